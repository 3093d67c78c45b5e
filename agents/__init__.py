"""Agents (learning algorithms) of the project."""
