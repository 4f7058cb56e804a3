# Runs in a PyScript worker (see index.html). All logic lives in the mediacollect package:
# every <video data-mediacollect> on the page is tracked, including ones added later.
from mediacollect.browser import auto

auto()
