"""Throwaway services of the scale-out stack on one machine (tests, ``make stack``): a
PostgreSQL cluster in a directory, an S3-compatible server, nginx, a Dask cluster. Production
runs the same services on their own machines (docs/deploy.md)."""
