"""The public epidemic map: regional figures without sign-in, and the `/map` page."""
