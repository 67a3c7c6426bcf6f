"""Fixed-window rate limits kept in the database, so every API worker shares the same counts."""
