"""The simulated people of a load run, one module per role."""
