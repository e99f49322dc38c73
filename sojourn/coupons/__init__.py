"""Coupons and what gives them away: pools of unique codes (pools) and spin-to-win
wheels (wheels). A journey's kit call is workflows/kit/coupons.py, its activity
activities/coupons.py, the operators' routes api/routes/coupons.py."""
