"""What a person reads after a run: the terminal summary and the HTML report."""
