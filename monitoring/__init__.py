"""Medical monitoring: people under follow-up (contacts, arrivals, recovering cases) report
daily; officers bound to an area work from a list of who needs a call or a visit."""
