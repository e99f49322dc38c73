"""The ground: what every layer shares, importing nothing of Sojourn above it.

- Infrastructure: settings, the database engine (db) and models, signing and secrets,
  VAPID keys, metrics, the Temporal client and schedules, outbound allow-lists, email
  addresses, migrations.
- Pure contracts, safe inside the workflow sandbox: the incoming call (calls), a
  customer's facts and the rules that keep them (facts), the behaviour event as a journey
  sees it and its matchers (events), segment predicates (segments), journey declarations
  (spec), calendar maths (calendar), and what journeys hand activities and get back
  (contracts). Workflows may import only these (see pyproject.toml's contracts)."""
