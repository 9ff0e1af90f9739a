"""The local stack behind `aiusage serve`: embedded DynamoDB, the API Gateway emulation, demo data."""
