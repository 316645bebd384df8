#!/usr/bin/env python3
"""Generate a deterministic SQLite database in the public Chinook database's DDL, at any scale.

The eleven tables (Album, Artist, Customer, Employee, Genre, Invoice, InvoiceLine, MediaType,
Playlist, PlaylistTrack, Track) have the public file's names, types, keys and NULLable columns,
and dates are text as there, so the pipeline treats this file and the real chinook.db alike.

Same seed and scale give byte-identical files: rows come from one seeded
random.Random, are inserted in a fixed order into a fresh file with fixed page
settings, and nothing time-dependent is written.

Scale 1 holds about 10,000 invoice lines; each scale unit adds about as many.

    python -m scripts.demo.sample_data --scale 10 --out .local/chinook.sqlite
"""

from __future__ import annotations

import argparse
import os
import random
import sqlite3
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path

# Rows per scale unit. Ratios follow the real Chinook sample, scaled up so that
# one unit gives about 10k invoice lines (2,000 invoices of 1-9 lines).
ARTISTS_PER_SCALE = 200
ALBUMS_PER_SCALE = 350
TRACKS_PER_SCALE = 3500
CUSTOMERS_PER_SCALE = 100
INVOICES_PER_SCALE = 2000
MAX_LINES_PER_INVOICE = 9
SUPPORT_AGENTS_PER_SCALE = 3
PLAYLISTS_PER_SCALE = 6
PLAYLIST_TRACKS_MEAN = 400
BATCH_ROWS = 20_000
FIRST_INVOICE_DAY = datetime(2021, 1, 1)
INVOICE_DAYS = 5 * 365

GENRES = [
    "Rock", "Jazz", "Metal", "Alternative & Punk", "Rock And Roll", "Blues", "Latin",
    "Reggae", "Pop", "Soundtrack", "Bossa Nova", "Easy Listening", "Heavy Metal",
    "R&B/Soul", "Electronica/Dance", "World", "Hip Hop/Rap", "Science Fiction",
    "TV Shows", "Sci Fi & Fantasy", "Drama", "Comedy", "Alternative", "Classical", "Opera",
]
# Weights make a few genres dominate, as in real catalogues.
GENRE_WEIGHTS = [40, 14, 13, 10, 2, 4, 20, 3, 5, 4, 2, 2, 2, 4, 3, 2, 2, 1, 3, 1, 2, 1, 3, 7, 1]

ADJECTIVES = [
    "Crimson", "Silent", "Electric", "Golden", "Broken", "Velvet", "Midnight", "Wild",
    "Hollow", "Neon", "Frozen", "Burning", "Lonely", "Restless", "Blue", "Iron",
    "Paper", "Distant", "Savage", "Gentle", "Scarlet", "Lucky", "Hidden", "Northern",
]
NOUNS = [
    "Owls", "Rivers", "Machines", "Horizons", "Wolves", "Echoes", "Lanterns", "Tides",
    "Ghosts", "Engines", "Saints", "Satellites", "Roses", "Mountains", "Strangers",
    "Harbors", "Shadows", "Kings", "Sparrows", "Highways", "Storms", "Mirrors",
]
TITLE_WORDS = [
    "Love", "Night", "Heart", "Fire", "Road", "Dream", "Rain", "City", "Light", "Home",
    "Summer", "Ocean", "Time", "Stone", "Dance", "Song", "Sky", "Gold", "Shadow", "Sun",
    "Winter", "Train", "Angel", "Thunder", "Whisper", "Garden", "Mirror", "River",
]
FIRST_NAMES = [
    "Luís", "Leonie", "François", "Bjørn", "František", "Helena", "Astrid", "Daan",
    "Kara", "Eduardo", "Alexandre", "Roberto", "Fernanda", "Mark", "Jennifer", "Frank",
    "Jack", "Michelle", "Tim", "Dan", "Kathy", "Heather", "John", "Robert", "Aaron",
    "Ellie", "Martha", "Madalena", "Hannah", "Niklas", "Camille", "Dominique", "Marc",
    "Wyatt", "Isabelle", "Ladislav", "Hugh", "Lucas", "Johannes", "Stanislaw", "Enrique",
    "Joakim", "Emma", "Phil", "Steve", "Mark", "Diego", "Luis", "Manoj", "Puja",
]
LAST_NAMES = [
    "Gonçalves", "Köhler", "Tremblay", "Hansen", "Wichterlová", "Holy", "Gruber", "Peeters",
    "Nielsen", "Martins", "Rocha", "Almeida", "Ramos", "Philips", "Peterson", "Harris",
    "Smith", "Brooks", "Goyer", "Miller", "Chase", "Gordon", "Mitchell", "Murray",
    "Sullivan", "Schneider", "Mercier", "Bernard", "Lefebvre", "Dubois", "Kovacs", "Rossi",
    "Mancini", "Fernandes", "Sampaio", "Van der Berg", "Brown", "Taylor", "OReilly",
    "Gutierrez", "Munoz", "Srivastava", "Pareek", "Cunningham", "Zimmermann", "Schroder",
]
# (city, state, country, postal code prefix, phone prefix)
CITIES = [
    ("São Paulo", "SP", "Brazil", "01007", "+55 11"),
    ("Rio de Janeiro", "RJ", "Brazil", "20040", "+55 21"),
    ("Stuttgart", None, "Germany", "70174", "+49 0711"),
    ("Berlin", None, "Germany", "10779", "+49 030"),
    ("Montréal", "QC", "Canada", "H2G", "+1 514"),
    ("Toronto", "ON", "Canada", "M6J", "+1 416"),
    ("Vancouver", "BC", "Canada", "V6C", "+1 604"),
    ("Oslo", None, "Norway", "0171", "+47 22"),
    ("Prague", None, "Czech Republic", "14700", "+420 2"),
    ("Vienne", None, "Austria", "1010", "+43 01"),
    ("Brussels", None, "Belgium", "1000", "+32 02"),
    ("Copenhagen", None, "Denmark", "1720", "+453"),
    ("Lisbon", None, "Portugal", "1000", "+351 21"),
    ("Porto", None, "Portugal", "4000", "+351 22"),
    ("Paris", None, "France", "75002", "+33 01"),
    ("Lyon", None, "France", "69002", "+33 04"),
    ("Helsinki", None, "Finland", "00530", "+358 09"),
    ("Budapest", None, "Hungary", "H-1073", "+36 01"),
    ("Dublin", "Dublin", "Ireland", "D02", "+353 01"),
    ("Rome", "RM", "Italy", "00192", "+39 06"),
    ("Amsterdam", "VV", "Netherlands", "1016", "+31 020"),
    ("Warsaw", None, "Poland", "00-358", "+48 22"),
    ("Madrid", None, "Spain", "28015", "+34 091"),
    ("Stockholm", None, "Sweden", "11230", "+46 08"),
    ("London", None, "United Kingdom", "N1 5LH", "+44 020"),
    ("Edinburgh", None, "United Kingdom", "EH4 1HH", "+44 0131"),
    ("New York", "NY", "USA", "10012", "+1 212"),
    ("Chicago", "IL", "USA", "60611", "+1 312"),
    ("Mountain View", "CA", "USA", "94043", "+1 650"),
    ("Austin", "TX", "USA", "78701", "+1 512"),
    ("Boston", "MA", "USA", "2113", "+1 617"),
    ("Sydney", "NSW", "Australia", "2010", "+61 02"),
    ("Melbourne", "VIC", "Australia", "3000", "+61 03"),
    ("Auckland", None, "New Zealand", "1010", "+64 09"),
    ("Buenos Aires", None, "Argentina", "1106", "+54 011"),
    ("Santiago", None, "Chile", "8320000", "+56 02"),
    ("Bogota", None, "Colombia", "110221", "+57 01"),
    ("Delhi", None, "India", "110017", "+91 011"),
    ("Bangalore", None, "India", "560001", "+91 080"),
    ("Tokyo", None, "Japan", "100-0005", "+81 03"),
    ("Johannesburg", None, "South Africa", "2001", "+27 011"),
]
STREETS = ["Rua", "Strasse", "Avenue", "Street", "Road", "Lane", "Boulevard", "Way"]
EMAIL_DOMAINS = ["example.com", "example.org", "example.net", "mail.example"]
COMPANIES = ["Embraer", "JetBrains", "Woodstock Discos", "Banco do Brasil", "Riotur", "Telus",
             "Rogers Canada", "Google Inc.", "Microsoft", "Apple Inc."]
MEDIA_TYPES = ["MPEG audio file", "Protected AAC audio file", "Protected MPEG-4 video file",
               "Purchased AAC audio file", "AAC audio file"]
AUDIO_MEDIA_TYPES, AUDIO_MEDIA_WEIGHTS, VIDEO_MEDIA_TYPE = [1, 2, 4, 5], [80, 12, 2, 1], 3
PRICES_CENTS = [99, 99, 99, 99, 199]  # as in Chinook: most tracks 0.99, videos 1.99

# The public Chinook database's DDL (SQLite edition): the same tables, column names, types,
# nullability, keys and foreign keys, so everything built on this file works on the real one.
SCHEMA = """
CREATE TABLE [Album] (
    [AlbumId] INTEGER NOT NULL,
    [Title] NVARCHAR(160) NOT NULL,
    [ArtistId] INTEGER NOT NULL,
    CONSTRAINT [PK_Album] PRIMARY KEY ([AlbumId]),
    FOREIGN KEY ([ArtistId]) REFERENCES [Artist] ([ArtistId]) ON DELETE NO ACTION ON UPDATE NO ACTION
);
CREATE TABLE [Artist] (
    [ArtistId] INTEGER NOT NULL,
    [Name] NVARCHAR(120),
    CONSTRAINT [PK_Artist] PRIMARY KEY ([ArtistId])
);
CREATE TABLE [Customer] (
    [CustomerId] INTEGER NOT NULL,
    [FirstName] NVARCHAR(40) NOT NULL,
    [LastName] NVARCHAR(20) NOT NULL,
    [Company] NVARCHAR(80),
    [Address] NVARCHAR(70),
    [City] NVARCHAR(40),
    [State] NVARCHAR(40),
    [Country] NVARCHAR(40),
    [PostalCode] NVARCHAR(10),
    [Phone] NVARCHAR(24),
    [Fax] NVARCHAR(24),
    [Email] NVARCHAR(60) NOT NULL,
    [SupportRepId] INTEGER,
    CONSTRAINT [PK_Customer] PRIMARY KEY ([CustomerId]),
    FOREIGN KEY ([SupportRepId]) REFERENCES [Employee] ([EmployeeId]) ON DELETE NO ACTION ON UPDATE NO ACTION
);
CREATE TABLE [Employee] (
    [EmployeeId] INTEGER NOT NULL,
    [LastName] NVARCHAR(20) NOT NULL,
    [FirstName] NVARCHAR(20) NOT NULL,
    [Title] NVARCHAR(30),
    [ReportsTo] INTEGER,
    [BirthDate] DATETIME,
    [HireDate] DATETIME,
    [Address] NVARCHAR(70),
    [City] NVARCHAR(40),
    [State] NVARCHAR(40),
    [Country] NVARCHAR(40),
    [PostalCode] NVARCHAR(10),
    [Phone] NVARCHAR(24),
    [Fax] NVARCHAR(24),
    [Email] NVARCHAR(60),
    CONSTRAINT [PK_Employee] PRIMARY KEY ([EmployeeId]),
    FOREIGN KEY ([ReportsTo]) REFERENCES [Employee] ([EmployeeId]) ON DELETE NO ACTION ON UPDATE NO ACTION
);
CREATE TABLE [Genre] (
    [GenreId] INTEGER NOT NULL,
    [Name] NVARCHAR(120),
    CONSTRAINT [PK_Genre] PRIMARY KEY ([GenreId])
);
CREATE TABLE [Invoice] (
    [InvoiceId] INTEGER NOT NULL,
    [CustomerId] INTEGER NOT NULL,
    [InvoiceDate] DATETIME NOT NULL,
    [BillingAddress] NVARCHAR(70),
    [BillingCity] NVARCHAR(40),
    [BillingState] NVARCHAR(40),
    [BillingCountry] NVARCHAR(40),
    [BillingPostalCode] NVARCHAR(10),
    [Total] NUMERIC(10,2) NOT NULL,
    CONSTRAINT [PK_Invoice] PRIMARY KEY ([InvoiceId]),
    FOREIGN KEY ([CustomerId]) REFERENCES [Customer] ([CustomerId]) ON DELETE NO ACTION ON UPDATE NO ACTION
);
CREATE TABLE [InvoiceLine] (
    [InvoiceLineId] INTEGER NOT NULL,
    [InvoiceId] INTEGER NOT NULL,
    [TrackId] INTEGER NOT NULL,
    [UnitPrice] NUMERIC(10,2) NOT NULL,
    [Quantity] INTEGER NOT NULL,
    CONSTRAINT [PK_InvoiceLine] PRIMARY KEY ([InvoiceLineId]),
    FOREIGN KEY ([InvoiceId]) REFERENCES [Invoice] ([InvoiceId]) ON DELETE NO ACTION ON UPDATE NO ACTION,
    FOREIGN KEY ([TrackId]) REFERENCES [Track] ([TrackId]) ON DELETE NO ACTION ON UPDATE NO ACTION
);
CREATE TABLE [MediaType] (
    [MediaTypeId] INTEGER NOT NULL,
    [Name] NVARCHAR(120),
    CONSTRAINT [PK_MediaType] PRIMARY KEY ([MediaTypeId])
);
CREATE TABLE [Playlist] (
    [PlaylistId] INTEGER NOT NULL,
    [Name] NVARCHAR(120),
    CONSTRAINT [PK_Playlist] PRIMARY KEY ([PlaylistId])
);
CREATE TABLE [PlaylistTrack] (
    [PlaylistId] INTEGER NOT NULL,
    [TrackId] INTEGER NOT NULL,
    CONSTRAINT [PK_PlaylistTrack] PRIMARY KEY ([PlaylistId], [TrackId]),
    FOREIGN KEY ([PlaylistId]) REFERENCES [Playlist] ([PlaylistId]) ON DELETE NO ACTION ON UPDATE NO ACTION,
    FOREIGN KEY ([TrackId]) REFERENCES [Track] ([TrackId]) ON DELETE NO ACTION ON UPDATE NO ACTION
);
CREATE TABLE [Track] (
    [TrackId] INTEGER NOT NULL,
    [Name] NVARCHAR(200) NOT NULL,
    [AlbumId] INTEGER,
    [MediaTypeId] INTEGER NOT NULL,
    [GenreId] INTEGER,
    [Composer] NVARCHAR(220),
    [Milliseconds] INTEGER NOT NULL,
    [Bytes] INTEGER,
    [UnitPrice] NUMERIC(10,2) NOT NULL,
    CONSTRAINT [PK_Track] PRIMARY KEY ([TrackId]),
    FOREIGN KEY ([AlbumId]) REFERENCES [Album] ([AlbumId]) ON DELETE NO ACTION ON UPDATE NO ACTION,
    FOREIGN KEY ([GenreId]) REFERENCES [Genre] ([GenreId]) ON DELETE NO ACTION ON UPDATE NO ACTION,
    FOREIGN KEY ([MediaTypeId]) REFERENCES [MediaType] ([MediaTypeId]) ON DELETE NO ACTION ON UPDATE NO ACTION
);
"""

TABLES = ["Album", "Artist", "Customer", "Employee", "Genre", "Invoice", "InvoiceLine", "MediaType",
          "Playlist", "PlaylistTrack", "Track"]


def _log(message: str) -> None:
    print(f"[sample_data] {message}", file=sys.stderr, flush=True)


def _title(rng: random.Random, words: int) -> str:
    return " ".join(rng.choice(TITLE_WORDS) for _ in range(words))


def _artists(rng: random.Random, count: int):
    for artist_id in range(1, count + 1):
        form = rng.random()
        if form < 0.45:
            name = f"The {rng.choice(ADJECTIVES)} {rng.choice(NOUNS)}"
        elif form < 0.8:
            name = f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}"
        else:
            name = f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)} & The {rng.choice(NOUNS)}"
        yield (artist_id, name)


def _albums(rng: random.Random, count: int, artists: int):
    for album_id in range(1, count + 1):
        # Every artist has at least one album; the rest go to random artists.
        artist_id = album_id if album_id <= artists else rng.randint(1, artists)
        yield (album_id, _title(rng, rng.randint(1, 3)), artist_id)


def _tracks(rng: random.Random, count: int, albums: int, prices: list[int]):
    genre_ids = list(range(1, len(GENRES) + 1))
    for track_id in range(1, count + 1):
        # Every album has at least one track.
        album_id = track_id if track_id <= albums else rng.randint(1, albums)
        composer = None if rng.random() < 0.25 else f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}"
        milliseconds = rng.randint(60_000, 480_000)
        price = prices[track_id - 1]
        # As in Chinook: videos (1.99) are MPEG-4 video files, audio one of the audio formats.
        media_type = VIDEO_MEDIA_TYPE if price == 199 else rng.choices(AUDIO_MEDIA_TYPES, AUDIO_MEDIA_WEIGHTS)[0]
        yield (
            track_id,
            _title(rng, rng.randint(1, 4)),
            album_id,
            media_type,
            rng.choices(genre_ids, GENRE_WEIGHTS)[0],
            composer,
            milliseconds,
            milliseconds * rng.randint(28, 34),
            price / 100,
        )


def _employees(rng: random.Random, agents: int):
    """A general manager, two managers with their staff, and the sales support agents."""
    staff = [("General Manager", None), ("Sales Manager", 1), ("IT Manager", 1), ("IT Staff", 3), ("IT Staff", 3)]
    staff += [("Sales Support Agent", 2)] * agents
    for employee_id, (title, reports_to) in enumerate(staff, start=1):
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        born = datetime(1950, 1, 1) + timedelta(days=rng.randrange(30 * 365))
        hired = datetime(2002, 1, 1) + timedelta(days=rng.randrange(3 * 365))
        city, state, country, postal, phone = rng.choice(CITIES[4:7])  # head office in Canada
        yield (
            employee_id, last[:20], first[:20], title, reports_to,
            born.strftime("%Y-%m-%d %H:%M:%S"), hired.strftime("%Y-%m-%d %H:%M:%S"),
            f"{rng.randint(1, 999)} {_title(rng, 1)} {rng.choice(STREETS)}", city, state, country, postal,
            f"{phone} {rng.randint(100, 999)}-{rng.randint(1000, 9999)}",
            None if rng.random() < 0.3 else f"{phone} {rng.randint(100, 999)}-{rng.randint(1000, 9999)}",
            f"{first}.{last}{employee_id}@chinook.example".lower().replace(" ", ""),
        )


def _customers(rng: random.Random, count: int, support_reps: list[int]):
    for customer_id in range(1, count + 1):
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        city, state, country, postal, phone = rng.choice(CITIES)
        yield (
            customer_id,
            first,
            last[:20],
            rng.choice(COMPANIES) if rng.random() < 0.2 else None,
            f"{rng.randint(1, 999)} {_title(rng, 1)} {rng.choice(STREETS)}",
            city,
            state,
            country,
            None if rng.random() < 0.05 else postal,
            f"{phone} {rng.randint(1000, 9999)}-{rng.randint(1000, 9999)}",
            f"{phone} {rng.randint(1000, 9999)}-{rng.randint(1000, 9999)}" if rng.random() < 0.2 else None,
            f"{first}.{last}{customer_id}@{rng.choice(EMAIL_DOMAINS)}".lower().replace(" ", ""),
            rng.choice(support_reps),
        )


def _invoices_and_lines(rng: random.Random, invoices: int, customers: list[tuple], prices: list[int]):
    """Yield ("invoice", row) and ("line", row); an invoice's total is the sum of its lines."""
    track_count = len(prices)
    line_id = 0
    for invoice_id in range(1, invoices + 1):
        customer = customers[rng.randrange(len(customers))]
        day = FIRST_INVOICE_DAY + timedelta(days=rng.randrange(INVOICE_DAYS), seconds=rng.randrange(86_400))
        total_cents = 0
        for _ in range(rng.randint(1, MAX_LINES_PER_INVOICE)):
            line_id += 1
            track_id = rng.randint(1, track_count)
            quantity = 1 if rng.random() < 0.9 else rng.randint(2, 3)
            cents = prices[track_id - 1]
            total_cents += cents * quantity
            yield "line", (line_id, invoice_id, track_id, cents / 100, quantity)
        yield "invoice", (
            invoice_id,
            customer[0],
            day.strftime("%Y-%m-%d %H:%M:%S"),  # text, as DATETIME is in the public file
            customer[4],
            customer[5],
            customer[6],
            customer[7],
            customer[8],
            total_cents / 100,
        )


def _playlists(rng: random.Random, count: int):
    for playlist_id in range(1, count + 1):
        yield (playlist_id, f"{rng.choice(ADJECTIVES)} {_title(rng, rng.randint(1, 2))}")


def _playlist_tracks(rng: random.Random, playlists: int, tracks: int):
    for playlist_id in range(1, playlists + 1):
        size = rng.randint(1, min(tracks, 2 * PLAYLIST_TRACKS_MEAN))
        for track_id in sorted(rng.sample(range(1, tracks + 1), size)):
            yield (playlist_id, track_id)


def _insert(db: sqlite3.Connection, table: str, rows) -> int:
    placeholders = None
    batch: list[tuple] = []
    count = 0
    for row in rows:
        if placeholders is None:
            placeholders = ", ".join("?" * len(row))
        batch.append(row)
        if len(batch) >= BATCH_ROWS:
            db.executemany(f"INSERT INTO [{table}] VALUES ({placeholders})", batch)
            count += len(batch)
            batch.clear()
    if batch:
        db.executemany(f"INSERT INTO [{table}] VALUES ({placeholders})", batch)
        count += len(batch)
    return count


def generate(db_path: Path, scale: int = 1, seed: int = 42) -> dict[str, int]:
    """Write the sample database to db_path (replacing it); return rows per table."""
    if not isinstance(scale, int) or isinstance(scale, bool) or scale < 1:
        raise ValueError(f"scale must be a positive integer, got {scale!r}")
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise ValueError(f"seed must be an integer, got {seed!r}")
    db_path = Path(db_path)
    db_path.parent.mkdir(parents=True, exist_ok=True)
    tmp_path = db_path.with_name(f".{db_path.name}.{os.getpid()}.tmp")
    tmp_path.unlink(missing_ok=True)

    rng = random.Random(seed)
    counts: dict[str, int] = {}
    db = sqlite3.connect(tmp_path, isolation_level=None)
    try:
        # Fixed page layout and no journal files: the bytes depend on the rows alone.
        db.execute("PRAGMA page_size = 4096")
        db.execute("PRAGMA journal_mode = OFF")
        db.execute("PRAGMA synchronous = OFF")
        db.execute("PRAGMA auto_vacuum = NONE")
        db.executescript(SCHEMA)
        db.execute("BEGIN")
        started = time.monotonic()

        def done(table: str, rows: int) -> None:
            counts[table] = rows
            _log(f"{table:<14} {rows:>10,} rows  ({time.monotonic() - started:.1f}s)")

        artists = ARTISTS_PER_SCALE * scale
        albums = ALBUMS_PER_SCALE * scale
        tracks = TRACKS_PER_SCALE * scale
        done("Artist", _insert(db, "Artist", _artists(rng, artists)))
        done("Album", _insert(db, "Album", _albums(rng, albums, artists)))
        done("Genre", _insert(db, "Genre", enumerate(GENRES, start=1)))
        done("MediaType", _insert(db, "MediaType", enumerate(MEDIA_TYPES, start=1)))
        prices = [rng.choice(PRICES_CENTS) for _ in range(tracks)]
        done("Track", _insert(db, "Track", _tracks(rng, tracks, albums, prices)))
        employees = list(_employees(rng, SUPPORT_AGENTS_PER_SCALE * scale))
        done("Employee", _insert(db, "Employee", employees))
        support_reps = [row[0] for row in employees if row[3] == "Sales Support Agent"]
        customers = list(_customers(rng, CUSTOMERS_PER_SCALE * scale, support_reps))
        done("Customer", _insert(db, "Customer", customers))

        invoice_rows: list[tuple] = []

        def lines():
            for kind, row in _invoices_and_lines(rng, INVOICES_PER_SCALE * scale, customers, prices):
                if kind == "line":
                    yield row
                else:
                    invoice_rows.append(row)

        line_count = _insert(db, "InvoiceLine", lines())
        done("Invoice", _insert(db, "Invoice", invoice_rows))
        done("InvoiceLine", line_count)
        playlists = PLAYLISTS_PER_SCALE * scale
        done("Playlist", _insert(db, "Playlist", _playlists(rng, playlists)))
        done("PlaylistTrack", _insert(db, "PlaylistTrack", _playlist_tracks(rng, playlists, tracks)))
        db.execute("COMMIT")
    finally:
        db.close()
    os.replace(tmp_path, db_path)
    return {table: counts[table] for table in TABLES}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Generate a deterministic SQLite database in the public Chinook DDL "
        "(scale 1 is about 10k invoice lines; same seed and scale give the same bytes).")
    parser.add_argument("--scale", type=int, default=1, help="size multiplier, >= 1 (default 1)")
    parser.add_argument("--seed", type=int, default=42, help="random seed (default 42)")
    parser.add_argument("--out", type=Path, default=Path(".local/chinook.sqlite"),
                        help="SQLite file to write (default .local/chinook.sqlite)")
    args = parser.parse_args(argv)
    if args.scale < 1:
        parser.error(f"--scale must be a positive integer, got {args.scale}")
    started = time.monotonic()
    _log(f"generating scale {args.scale}, seed {args.seed} -> {args.out}")
    counts = generate(args.out, scale=args.scale, seed=args.seed)
    size_mb = args.out.stat().st_size / 1e6
    _log(f"wrote {sum(counts.values()):,} rows, {size_mb:.1f} MB in {time.monotonic() - started:.1f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
