"""Personal data rights: a citizen's export, access log and erasure, and the organisations
that see a person's status colour only while that person consents (issue 23)."""
