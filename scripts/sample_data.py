#!/usr/bin/env python3
"""Generate a deterministic, Chinook-shaped SQLite database at a chosen scale.

Same seed and scale give byte-identical files: rows come from one seeded
random.Random, are inserted in a fixed order into a fresh file with fixed page
settings, and nothing time-dependent is written.

Scale 1 holds about 10,000 invoice lines; each scale unit adds about as many.

    scripts/sample_data.py --scale 10 --out .local/chinook.sqlite
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
    "Luis", "Leonie", "Francois", "Bjorn", "Frantisek", "Helena", "Astrid", "Daan",
    "Kara", "Eduardo", "Alexandre", "Roberto", "Fernanda", "Mark", "Jennifer", "Frank",
    "Jack", "Michelle", "Tim", "Dan", "Kathy", "Heather", "John", "Robert", "Aaron",
    "Ellie", "Martha", "Madalena", "Hannah", "Niklas", "Camille", "Dominique", "Marc",
    "Wyatt", "Isabelle", "Ladislav", "Hugh", "Lucas", "Johannes", "Stanislaw", "Enrique",
    "Joakim", "Emma", "Phil", "Steve", "Mark", "Diego", "Luis", "Manoj", "Puja",
]
LAST_NAMES = [
    "Goncalves", "Kohler", "Tremblay", "Hansen", "Wichterlova", "Holy", "Gruber", "Peeters",
    "Nielsen", "Martins", "Rocha", "Almeida", "Ramos", "Philips", "Peterson", "Harris",
    "Smith", "Brooks", "Goyer", "Miller", "Chase", "Gordon", "Mitchell", "Murray",
    "Sullivan", "Schneider", "Mercier", "Bernard", "Lefebvre", "Dubois", "Kovacs", "Rossi",
    "Mancini", "Fernandes", "Sampaio", "Van der Berg", "Brown", "Taylor", "OReilly",
    "Gutierrez", "Munoz", "Srivastava", "Pareek", "Cunningham", "Zimmermann", "Schroder",
]
# (city, state, country, postal code prefix, phone prefix)
CITIES = [
    ("Sao Paulo", "SP", "Brazil", "01007", "+55 11"),
    ("Rio de Janeiro", "RJ", "Brazil", "20040", "+55 21"),
    ("Stuttgart", None, "Germany", "70174", "+49 0711"),
    ("Berlin", None, "Germany", "10779", "+49 030"),
    ("Montreal", "QC", "Canada", "H2G", "+1 514"),
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
PRICES_CENTS = [99, 99, 99, 99, 199]  # as in Chinook: most tracks 0.99, videos 1.99

SCHEMA = """
CREATE TABLE artists (
    artist_id INTEGER PRIMARY KEY,
    name TEXT NOT NULL
);
CREATE TABLE albums (
    album_id INTEGER PRIMARY KEY,
    title TEXT NOT NULL,
    artist_id INTEGER NOT NULL REFERENCES artists (artist_id)
);
CREATE TABLE genres (
    genre_id INTEGER PRIMARY KEY,
    name TEXT NOT NULL
);
CREATE TABLE tracks (
    track_id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    album_id INTEGER NOT NULL REFERENCES albums (album_id),
    genre_id INTEGER NOT NULL REFERENCES genres (genre_id),
    composer TEXT,
    milliseconds INTEGER NOT NULL,
    bytes INTEGER NOT NULL,
    unit_price NUMERIC(10, 2) NOT NULL
);
CREATE TABLE customers (
    customer_id INTEGER PRIMARY KEY,
    first_name TEXT NOT NULL,
    last_name TEXT NOT NULL,
    company TEXT,
    address TEXT NOT NULL,
    city TEXT NOT NULL,
    state TEXT,
    country TEXT NOT NULL,
    postal_code TEXT,
    phone TEXT,
    email TEXT NOT NULL
);
CREATE TABLE invoices (
    invoice_id INTEGER PRIMARY KEY,
    customer_id INTEGER NOT NULL REFERENCES customers (customer_id),
    invoice_date DATETIME NOT NULL,
    billing_address TEXT NOT NULL,
    billing_city TEXT NOT NULL,
    billing_state TEXT,
    billing_country TEXT NOT NULL,
    billing_postal_code TEXT,
    total NUMERIC(10, 2) NOT NULL
);
CREATE TABLE invoice_lines (
    invoice_line_id INTEGER PRIMARY KEY,
    invoice_id INTEGER NOT NULL REFERENCES invoices (invoice_id),
    track_id INTEGER NOT NULL REFERENCES tracks (track_id),
    unit_price NUMERIC(10, 2) NOT NULL,
    quantity INTEGER NOT NULL
);
"""

TABLES = ["artists", "albums", "genres", "tracks", "customers", "invoices", "invoice_lines"]


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
        yield (
            track_id,
            _title(rng, rng.randint(1, 4)),
            album_id,
            rng.choices(genre_ids, GENRE_WEIGHTS)[0],
            composer,
            milliseconds,
            milliseconds * rng.randint(28, 34),
            price / 100,
        )


def _customers(rng: random.Random, count: int):
    for customer_id in range(1, count + 1):
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        city, state, country, postal, phone = rng.choice(CITIES)
        yield (
            customer_id,
            first,
            last,
            rng.choice(COMPANIES) if rng.random() < 0.2 else None,
            f"{rng.randint(1, 999)} {_title(rng, 1)} {rng.choice(STREETS)}",
            city,
            state,
            country,
            postal,
            f"{phone} {rng.randint(1000, 9999)}-{rng.randint(1000, 9999)}",
            f"{first}.{last}{customer_id}@{rng.choice(EMAIL_DOMAINS)}".lower().replace(" ", ""),
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
            day.strftime("%Y-%m-%d %H:%M:%S"),
            customer[4],
            customer[5],
            customer[6],
            customer[7],
            customer[8],
            total_cents / 100,
        )


def _insert(db: sqlite3.Connection, table: str, rows) -> int:
    placeholders = None
    batch: list[tuple] = []
    count = 0
    for row in rows:
        if placeholders is None:
            placeholders = ", ".join("?" * len(row))
        batch.append(row)
        if len(batch) >= BATCH_ROWS:
            db.executemany(f"INSERT INTO {table} VALUES ({placeholders})", batch)
            count += len(batch)
            batch.clear()
    if batch:
        db.executemany(f"INSERT INTO {table} VALUES ({placeholders})", batch)
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
        done("artists", _insert(db, "artists", _artists(rng, artists)))
        done("albums", _insert(db, "albums", _albums(rng, albums, artists)))
        done("genres", _insert(db, "genres", enumerate(GENRES, start=1)))
        prices = [rng.choice(PRICES_CENTS) for _ in range(tracks)]
        done("tracks", _insert(db, "tracks", _tracks(rng, tracks, albums, prices)))
        customers = list(_customers(rng, CUSTOMERS_PER_SCALE * scale))
        done("customers", _insert(db, "customers", customers))

        invoice_rows: list[tuple] = []

        def lines():
            for kind, row in _invoices_and_lines(rng, INVOICES_PER_SCALE * scale, customers, prices):
                if kind == "line":
                    yield row
                else:
                    invoice_rows.append(row)

        line_count = _insert(db, "invoice_lines", lines())
        done("invoices", _insert(db, "invoices", invoice_rows))
        done("invoice_lines", line_count)
        db.execute("COMMIT")
    finally:
        db.close()
    os.replace(tmp_path, db_path)
    return {table: counts[table] for table in TABLES}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Generate a deterministic Chinook-shaped SQLite database "
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
