"""kabuflow: bulk stock price ingestion into PostgreSQL, orchestrated by Airflow."""
