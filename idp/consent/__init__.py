"""The person's consent: requests, ledger, receipts, decisions and notifications to relying parties."""
