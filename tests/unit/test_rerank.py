"""The re-ranking rule of SearchBySpeech (ranking/likelihood.py), on hand-made cases."""
import numpy as np

from xmodal_server.ranking.likelihood import per_token, rerank_order


def test_texts_said_verbatim_move_first_best_explained_first():
    scores = [0.9, 0.8, 0.7, 0.6]
    # Heard -0.3 per token, gate 0.5: hits 1 (-0.2) and 3 (-0.7) pass; 0 (-2.0) and 2 (-0.81) do not.
    assert rerank_order(scores, [-2.0, -0.2, -0.81, -0.7], heard=-0.3, gate=0.5) == [1, 3, 0, 2]


def test_a_gallery_nobody_said_keeps_the_search_order():
    # FAQ answers for a spoken question: every text far below what the model heard.
    assert rerank_order([0.9, 0.8, 0.7], [-3.0, -2.5, -4.0], heard=-0.3, gate=0.5) == [0, 1, 2]


def test_unscored_hits_follow_in_their_order_and_ties_go_by_score():
    order = rerank_order([0.5, 0.9, 0.8, 0.1], [None, -0.4, -0.4, None], heard=-0.3, gate=0.5)
    assert order == [1, 2, 0, 3]


def test_the_gate_is_inclusive_and_a_text_better_than_the_transcript_passes():
    assert rerank_order([0.2, 0.1], [-0.75, -0.125], heard=-0.25, gate=0.5) == [1, 0]  # both pass
    assert rerank_order([0.2, 0.1], [-0.875, 0.0], heard=-0.25, gate=0.5) == [1, 0]  # only the better one


def test_per_token_means():
    assert np.allclose(per_token(np.array([-3.0, -1.0]), [3, 2]), [-1.0, -0.5])


def test_spoken_form_drops_case_and_punctuation_but_keeps_apostrophes():
    from xmodal_server.ranking.likelihood import spoken_form

    assert spoken_form("How long do I have to return an item?") == "how long do i have to return an item"
    assert spoken_form("  What's   the 2nd step -- exactly?! ") == "what's the 2nd step exactly"
    assert spoken_form("?!") == "."  # nothing left: a neutral token, never an empty text
    assert spoken_form("You can say 'track my order' or 'cancel'.") == "you can say track my order or cancel"
    assert spoken_form("the kids' toys aren't here") == "the kids toys aren't here"


def test_texts_too_long_to_have_been_said_are_not_sayable():
    from xmodal_server.ranking.likelihood import sayable

    heard = "how do i reset my password"  # 26 characters
    assert sayable("how do i reset my password please", heard, 2.0)
    assert sayable("x" * (3 * 26 + 20), heard, 2.0) and not sayable("x" * (3 * 26 + 21), heard, 2.0)
    # A transcript that lost words does not exclude the sentence: 20 characters a second are always allowed.
    assert not sayable("x" * 150, "you", 2.0) and sayable("x" * 150, "you", 7.5)


class FakeScoreCache:
    """Stands in for evaluation.rerank_eval.ScoreCache: fixed log-probabilities per text, no audio."""

    def __init__(self, scores):
        self.scores = scores

    def get(self, clip, texts):
        return np.array([self.scores[t] for t in texts])

    @staticmethod
    def seconds(clip):
        return 2.0

    def save(self):
        pass


def test_planned_sims_rerank_only_the_top_k_and_metrics_read_the_new_order():
    from xmodal_server.evaluation.metrics import retrieval_metrics
    from xmodal_server.evaluation.rerank_eval import plan_of, planned_sims

    gallery = ["turn on the light", "turn off the light", "play music", "stop"]
    sims = np.array([[0.9, 0.8, 0.7, 0.1]])  # the search prefers "on"; the audio said "off"
    cache = FakeScoreCache({"turn on the light": -2.0, "turn off the light": -0.3, "play music": -5.0,
                            "stop": -0.2, "turn of the light": -0.3})
    ranked = planned_sims(plan_of(0.0, 3, 0, 0.5), sims, ["clip.wav"], ["Turn of the light."], gallery, cache, "t")
    assert list(np.argsort(-ranked[0])) == [1, 0, 2, 3]  # "stop" (outside the top 3) is never promoted
    assert retrieval_metrics("t", "m", ranked, [1]).r1 == 1.0
    assert retrieval_metrics("t", "m", sims, [1]).r1 == 0.0


def test_planned_sims_leave_texts_too_long_to_have_been_said_unscored():
    from xmodal_server.evaluation.rerank_eval import plan_of, planned_sims

    answer = "you can return most items within thirty days of delivery for a full refund " * 2  # 150 characters
    gallery = [answer, "return an item", "track my order"]
    asked = []

    class Recording(FakeScoreCache):
        def get(self, clip, texts):
            asked.extend(texts)
            return super().get(clip, texts)

    cache = Recording({"return an item": -0.4, "track my order": -3.0, "return an item.": -0.3})
    sims = np.array([[0.9, 0.8, 0.1]])
    ranked = planned_sims(plan_of(0.0, 3, 0, 0.5), sims, ["clip.wav"], ["Return an item."], gallery, cache, "t")
    assert answer.strip() not in asked and "track my order" in asked  # 150 > max(3 x 14 + 20, 2 s x 20)
    assert list(np.argsort(-ranked[0])) == [1, 0, 2]  # the unscored answer keeps its place among the rest


def test_eval_rerank_depths_are_parsed_and_checked():
    import argparse

    import pytest

    from xmodal.cli import _depths

    assert _depths("25") == (25,) and _depths("25,64") == (25, 64)
    for bad in ("0", "65", "x", "25,,abc"):
        with pytest.raises(argparse.ArgumentTypeError):
            _depths(bad)


def test_counts_on_the_command_line_are_checked_by_argparse():
    import pytest

    from xmodal.cli import build_parser

    parser = build_parser()
    for argv in (["align", "--asr-rank", "0"], ["align", "--asr-epochs", "-1"], ["eval", "--sound-alike", "65"],
                 ["eval", "--sound-alike", "x"]):
        with pytest.raises(SystemExit):
            parser.parse_args(argv)
    assert parser.parse_args(["eval", "--sound-alike", "0"]).sound_alike == 0
    assert parser.parse_args(["eval"]).sound_alike is None  # the server's default
    assert parser.parse_args(["align", "--asr-rank", "4"]).asr_rank == 4
    speech = ["search", "c", "--speech", "q.wav"]
    for argv in ([*speech, "--rerank", "65"], [*speech, "--rerank", "-1"]):
        with pytest.raises(SystemExit):
            parser.parse_args(argv)
    assert parser.parse_args(speech).rerank is None  # the server's default depth
    assert parser.parse_args([*speech, "--rerank", "0"]).rerank == 0  # off


def test_search_sound_alike_without_an_explicit_rerank_is_refused_before_connecting(capsys):
    import pytest

    from xmodal.cli import main

    with pytest.raises(SystemExit) as e:
        main(["--address", "127.0.0.1:1", "search", "c", "--speech", "q.wav", "--sound-alike", "3"])
    assert e.value.code == 2 and "explicit --rerank K" in capsys.readouterr().err


def test_planned_sims_rank_the_pool_by_cosine_plus_weighted_similarity_above_the_rest():
    from xmodal_server.evaluation.rerank_eval import plan_of, planned_sims

    gallery = ["maldives flag", "indonesia flag", "play music", "stop"]
    sims = np.array([[0.5, 0.6, 0.2, 0.1]])  # the embedding prefers the wrong flag
    plain = planned_sims(plan_of(0.0), sims, ["clip.wav"], ["mull dives flag"], gallery, None, "t")
    assert list(np.argsort(-plain[0])) == list(np.argsort(-sims[0]))  # weight 0: the vector search's order
    out = planned_sims(plan_of(1.0), sims, ["clip.wav"], ["mull dives flag"], gallery, None, "t")
    assert list(np.argsort(-out[0]))[:2] == [0, 1]  # sounds like the first: it moves up
    assert (out[0] > 1.0).all()  # a pool of 64 holds this whole gallery
    # Re-ranking on top of it (FakeScoreCache): only texts the audio explains move; the rest keep that order.
    cache = FakeScoreCache({"maldives flag": -3.0, "indonesia flag": -0.2, "play music": -5.0, "stop": -4.0,
                            "mull dives flag": -0.3})
    ranked = planned_sims(plan_of(1.0, 2, 0, 0.5), sims, ["clip.wav"], ["mull dives flag"], gallery, cache, "t")
    assert list(np.argsort(-ranked[0])) == [1, 0, 2, 3]
