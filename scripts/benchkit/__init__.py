"""The pieces of scripts/bench, which scripts/profile uses too."""
