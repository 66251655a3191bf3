"""The review page: a small HTTP front end where a person looks at copy matches.

It is a client of the gRPC API (through ``vidsearch_client``, with the caller's bearer
token), never of the orchestrator: it can run beside any vidsearch server. Plain
HTML/CSS/JS in ``static/``, no build step, nothing fetched from the internet.
"""
