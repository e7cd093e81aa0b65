"""The results layer: Bulk Read result files made safe, cut into pieces and read into records."""
