"""Alerts: rules from the config, a pure clock-driven engine, and delivery through notifiers."""
