"""The person's portable profile: claims, personas, export and import."""
