"""The aggregator: folds the table's event stream into cells and budget spend."""
