"""Customer sign-in for the self-service portal: one-time codes, magic links, sessions."""
