"""Home-page stories, as the founding guide tells it (its InStory).

She opens the home page. At the top, the marketer's stories (campaigns, products,
collections), those about the categories she views most first; the storefront draws
them (sojourn.js, `data-sojourn-stories`), and their impressions and taps are this
journey's. The guide measures home-page-to-product-page click-through: a product page
opened after a tap on a story, per shopper shown the stories.

The journey sends nothing: the stories are served to every visit; the run measures,
once a day per shopper.
"""

from datetime import timedelta

from workflows.kit import Goal, Journey, JourneyEvent, On, Reentry, Setting, journey


def story_tap(event: JourneyEvent) -> bool:
    return event.text("journey") == "home_stories"


STORY_TAPPED = On("Onsite Message Clicked", where=story_tap)
VISIT = timedelta(hours=1)


@journey(
    name="home_stories",
    enters_on=On(type="page", props={"path": Setting("home_path")}),
    listens_to=STORY_TAPPED,
    goal=Goal("Product Viewed", within=VISIT, kpi="home-to-product click-through rate", after=STORY_TAPPED,
              per="impression"),
    also_measures=(Goal("Onsite Message Clicked", within=VISIT, kpi="story tap rate", own=True,
                        per="impression"),),
    reentry=Reentry.after(timedelta(days=1)),
)
class HomeStories(Journey):
    async def story(self) -> None:
        tapped = await self.wait_for(STORY_TAPPED, within=VISIT, reason="her visit: a tap on a story")
        self.branch("stories", f"tapped {tapped.text('story_id')}" if tapped else "not tapped")
