"""End-to-end tests: Meltano, the simulator process and PostgreSQL, all real."""
