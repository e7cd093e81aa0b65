"""The Zoho layer: what talks to Zoho CRM (auth, HTTP, wire shapes, bulk jobs); nothing Singer."""
