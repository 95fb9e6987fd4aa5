"""How hits are ranked: a search is a plan (``plan.py``: candidate sources + re-scoring stages) run by one
ranker (``ranker.py``) over a table of candidates, for the server and for ``xmodal eval`` alike. The steps of a
speech search live beside it: sound-alike matching of texts with the transcript (``sound_alike.py``) and the
speech model's likelihood of a text (``likelihood.py``)."""
