"""Singer tap for Zoho CRM through the Bulk Read API."""
