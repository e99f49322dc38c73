"""Links Sojourn signs: tracked clicks and opens (tracking), referral codes (referrals)."""
