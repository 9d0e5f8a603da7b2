"""Health declarations: the form, the people an account declares for, and status rules."""
