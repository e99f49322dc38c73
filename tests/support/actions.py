"""Billable actions per journey's main story (bench/actions.py counts them): what each
recorded run may spend. A change to the kit or a journey that spends more fails the
test that plays that story (conftest.keep_history checks every run it is given) and
tests/test_actions.py (the recorded files). Lower a figure when a change saves.

A story's current recording is named as its test names it, and every run of that test
is held to its budget. When a change alters what a story records, rename the current
file with a suffix that says what the change left behind, record again, and budget
both: the old file stays, for customers who entered under it."""

BUDGET = {
    # Now (the tests record these and hold their runs to them): the router hands a run
    # the changes its code makes, so the run records no patch marker and no upsert of
    # TemporalChangeVersion; the step is not a search attribute (searchable_steps is
    # off); conversions are measured from the events; the router records the entry
    # and hands the run her profile.
    "account_registration_signed_up": 13,  # three touches: her channel, the site (withdrawn on signup), a reminder
    "app_banner_test_tapped_and_installed": 9,
    "cart_abandonment_order_before_push": 3,
    "cart_abandonment_with_retargeting_audience": 12,  # the guide's order: one more wait while she shops on
    "email_confirmation_confirmed": 4,
    "first_purchase_incentive_whole_story": 8,
    "home_stories_tapped": 4,
    "lead_capture_whole_story": 9,
    "loyalty_signup_abandonment_story": 5,
    "post_purchase_second_order_ends_offers": 7,
    "post_purchase_whole_story": 13,  # her best channel, and how long her products last from the catalog
    "product_discovery_no_add_to_cart": 8,  # all customers: has she bought, before the email
    "referral_ask_story": 7,  # and on the site (withdrawn when her link is opened)
    "referral_reward_story": 4,
    "referral_welcome_story": 7,
    "registration_page_test_signed_up": 7,
    "win_back_likely_buyer_keeps_the_coupon": 9,
    "win_back_whole_story": 12,  # is she a likely buyer, before the coupon: one read of her facts
    # Recorded while the run read her profile with an activity of its own.
    "account_registration_signed_up_profile_read_by_the_run": 14,
    "app_banner_test_tapped_and_installed_profile_read_by_the_run": 10,
    "cart_abandonment_with_retargeting_audience_profile_read_by_the_run": 13,
    "registration_page_test_signed_up_profile_read_by_the_run": 8,
    "win_back_likely_buyer_keeps_the_coupon_profile_read_by_the_run": 10,
    "win_back_whole_story_profile_read_by_the_run": 13,
    # Recorded while the run recorded its own entry (an activity).
    "account_registration_signed_up_entry_recorded_by_the_run": 15,
    "app_banner_test_tapped_and_installed_entry_recorded_by_the_run": 11,
    "cart_abandonment_order_before_push_entry_recorded_by_the_run": 4,
    "cart_abandonment_with_retargeting_audience_entry_recorded_by_the_run": 14,
    "email_confirmation_confirmed_entry_recorded_by_the_run": 5,
    "first_purchase_incentive_whole_story_entry_recorded_by_the_run": 9,
    "home_stories_tapped_entry_recorded_by_the_run": 5,
    "lead_capture_whole_story_entry_recorded_by_the_run": 10,
    "loyalty_signup_abandonment_story_entry_recorded_by_the_run": 6,
    "post_purchase_second_order_ends_offers_entry_recorded_by_the_run": 8,
    "post_purchase_whole_story_entry_recorded_by_the_run": 14,
    "product_discovery_no_add_to_cart_entry_recorded_by_the_run": 9,
    "referral_ask_story_entry_recorded_by_the_run": 8,
    "referral_reward_story_entry_recorded_by_the_run": 5,
    "referral_welcome_story_entry_recorded_by_the_run": 8,
    "registration_page_test_signed_up_entry_recorded_by_the_run": 9,
    "win_back_likely_buyer_keeps_the_coupon_entry_recorded_by_the_run": 11,
    "win_back_whole_story_entry_recorded_by_the_run": 14,
    # Recorded while every run upserted its step at each wait and recorded its conversion.
    "account_registration_signed_up_before_steps_opt_in": 21,
    "app_banner_test_tapped_and_installed_before_steps_opt_in": 15,
    "cart_abandonment_order_before_push_before_steps_opt_in": 7,
    "cart_abandonment_with_retargeting_audience_before_steps_opt_in": 20,
    "email_confirmation_confirmed_before_steps_opt_in": 8,
    "first_purchase_incentive_whole_story_before_steps_opt_in": 13,
    "home_stories_tapped_before_steps_opt_in": 8,
    "lead_capture_whole_story_before_steps_opt_in": 15,
    "loyalty_signup_abandonment_story_before_steps_opt_in": 10,
    "post_purchase_second_order_ends_offers_before_steps_opt_in": 13,
    "post_purchase_whole_story_before_steps_opt_in": 20,
    "product_discovery_no_add_to_cart_before_steps_opt_in": 12,
    "referral_ask_story_before_steps_opt_in": 12,
    "referral_reward_story_before_steps_opt_in": 6,
    "referral_welcome_story_before_steps_opt_in": 11,
    "registration_page_test_signed_up_before_steps_opt_in": 12,
    "win_back_likely_buyer_keeps_the_coupon_before_steps_opt_in": 14,
    "win_back_whole_story_before_steps_opt_in": 18,
    # Recorded while win-back gave every lapsed customer the coupon.
    "win_back_whole_story_coupon_for_everyone": 17,
    # Recorded while product discovery was for past buyers only.
    "product_discovery_no_add_to_cart_past_buyers_only": 11,
    # Recorded before the referral ask was on the site too.
    "referral_ask_story_email_only": 10,
    # Recorded before account registration went where she is most active, with a second touch.
    "account_registration_signed_up_one_touch": 16,
    # Recorded before post-purchase used her best channel and the catalog's replenish_days (email only).
    "post_purchase_whole_story_email_only": 18,
    # Recorded before the cart followed the guide's order (push, email the same day, ad that evening).
    "cart_abandonment_order_before_push_email_at_24h": 7,
    "cart_abandonment_with_retargeting_audience_email_at_24h": 19,
    # Recorded while the kit's changes were patch markers in every new run.
    "account_registration_signed_up_searchable_steps": 17,
    "app_banner_test_tapped_and_installed_searchable_steps": 17,
    "cart_abandonment_order_before_push_searchable_steps": 8,
    "cart_abandonment_with_retargeting_audience_searchable_steps": 21,
    "first_purchase_incentive_whole_story_searchable_steps": 15,
    "lead_capture_whole_story_searchable_steps": 17,
    "loyalty_signup_abandonment_story_searchable_steps": 11,
    "post_purchase_whole_story_searchable_steps": 19,
    "product_discovery_no_add_to_cart_searchable_steps": 13,
    "referral_ask_story_searchable_steps": 11,
    "registration_page_test_signed_up_searchable_steps": 14,
    # Recorded before that: every step change was upserted.
    "account_registration_signed_up_every_step_upserted": 18,
    "app_banner_test_tapped_and_installed_every_step_upserted": 18,
    "cart_abandonment_order_before_push_every_step_upserted": 9,
    "cart_abandonment_whole_story": 18,
    "cart_abandonment_whole_story_entry_in_input": 17,
    "cart_abandonment_with_retargeting_audience_every_step_upserted": 23,
    "first_purchase_incentive_whole_story_every_step_upserted": 17,
    "lead_capture_whole_story_every_step_upserted": 19,
    "loyalty_signup_abandonment_story_every_step_upserted": 13,
    "post_purchase_whole_story_every_step_upserted": 22,
    "product_discovery_no_add_to_cart_every_step_upserted": 15,
    "referral_ask_story_every_step_upserted": 13,
    "registration_page_test_signed_up_every_step_upserted": 15,
}
