"""Entry declarations at the border: arrivals declare in their own language, without an
account; border staff scan their code; a non-green arrival is handed over to monitoring."""
