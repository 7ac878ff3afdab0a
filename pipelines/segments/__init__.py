"""Data-driven segments: k-means clusters of accounts and customers beside the rule-based ones."""
