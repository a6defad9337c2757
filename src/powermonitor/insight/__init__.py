"""Insight: appliance cycles, always-on (standby) power and what each plug costs."""
