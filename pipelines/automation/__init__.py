"""Schedules, sensors and alerts: how segmart runs unattended."""
