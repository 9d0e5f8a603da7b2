"""Who may do what: citizen sign-in by phone code, staff accounts, access and refresh tokens."""
