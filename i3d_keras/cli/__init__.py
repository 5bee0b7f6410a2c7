"""Command-line front ends (absl): flags and a ``main`` that calls the library; no logic lives here."""
