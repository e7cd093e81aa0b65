"""A local stand-in for Zoho CRM's accounts server, metadata APIs and Bulk Read/Write APIs."""
