/** Tags every environment carries (the provider's default_tags). */
export const sharedTags: Readonly<Record<string, string>> = {
  Project: "dbt-lambda-platform",
  ManagedBy: "cdktf",
  Repository: "dbt-lambda-platform",
};
