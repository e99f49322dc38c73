"""Ad audiences: who journeys put in a retargeting audience and what each platform was
told (members). The kit call is workflows/kit/audiences.py, the sync
activities/audiences.py."""
