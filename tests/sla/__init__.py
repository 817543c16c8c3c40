"""The SLA policy file and the working-time clock (domain/sla_policy.py, domain/working_time.py)."""
