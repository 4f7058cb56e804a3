# Runs in a PyScript worker (see index.html). All logic lives in the mediacollect package.
from mediacollect.browser import start_page

start_page("video")
