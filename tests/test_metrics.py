"""The metrics of README section 7 ("Prediction, evaluation, pictures") on hand-made phase curves."""

import numpy as np
import pytest

from dance import metrics

FPS = 50


def sawtooth(bar_seconds=2.0, seconds=30.0, offset=0.0):
    times = (np.arange(int(seconds * FPS)) + 1) / FPS
    return times, np.mod((times - offset) / bar_seconds, 1.0)


def test_downbeats_are_interpolated_wraps():
    times, phases = sawtooth(offset=0.005)
    found = metrics.downbeats(times, phases)
    np.testing.assert_allclose(found, np.arange(1, 15) * 2.0 + 0.005, atol=1e-9)


def test_jitter_around_the_wrap_gives_one_downbeat():
    phases = np.array([0.4, 0.6, 0.9, 0.99, 0.01, 0.98, 0.02, 0.03, 0.3, 0.6, 0.95, 0.05])
    times = np.arange(len(phases)) * 0.02
    assert len(metrics.downbeats(times, phases)) == 2


def test_perfect_and_shifted_predictions():
    times, truth = sawtooth()
    reference = np.arange(0, 31, 2.0)
    assert metrics.phase_error(times, truth, truth) == 0.0
    assert metrics.downbeat_f1(reference, metrics.downbeats(times, truth)) == pytest.approx(1.0)
    late = np.mod(truth - 0.05, 1.0)  # 100 ms late at 2 s per bar: outside +-70 ms
    assert metrics.phase_error(times, late, truth) == pytest.approx(0.05)
    assert metrics.downbeat_f1(reference, metrics.downbeats(times, late)) == 0.0


def test_signed_error_says_behind_or_ahead_across_the_wrap():
    times, truth = sawtooth()
    late = np.mod(truth - 0.05, 1.0)
    early = np.mod(truth + 0.3, 1.0)
    np.testing.assert_allclose(metrics.signed_phase_error(times, late, truth), -0.05, atol=1e-9)
    np.testing.assert_allclose(metrics.signed_phase_error(times, early, truth), 0.3, atol=1e-9)
    assert len(metrics.signed_phase_error(times, late, truth)) == np.sum(times >= metrics.SKIP_SECONDS)
    wobbly = np.mod(truth + 0.2 * np.sin(times), 1.0)
    assert np.abs(metrics.signed_phase_error(times, wobbly, truth)).mean() == pytest.approx(metrics.phase_error(times, wobbly, truth))


def test_circular_distance_wraps():
    assert metrics.circular_distance(0.98, 0.02) == pytest.approx(0.04)


def test_time_to_lock_needs_two_bars_under_tolerance():
    times, truth = sawtooth()
    predicted = truth.copy()
    predicted[times < 3.0] = np.mod(truth[times < 3.0] + 0.4, 1.0)  # wrong for 3 s
    predicted[(times > 4.0) & (times < 4.5)] += 0.3  # a slip at 4 s: the lock restarts after it
    assert metrics.time_to_lock(times, predicted, truth, times[0], 2.0) == pytest.approx(4.5 - times[0], abs=0.021)
    assert np.isnan(metrics.time_to_lock(times, np.mod(truth + 0.5, 1.0), truth, 0.0, 2.0))


def test_change_points_find_tempo_and_meter_changes_not_ramps():
    ramp = np.cumsum([0] + [2.0 * 0.99**k for k in range(10)])
    assert metrics.change_points(ramp) == []
    steps = np.array([0, 2, 4, 6, 7.5, 9, 10.5])
    assert metrics.change_points(steps) == [6.0]
    assert metrics.change_points(np.arange(0, 12, 2.0), [(4, 4)] * 3 + [(2, 2)] * 2) == [6.0]


def test_bar_rate_ratio_tells_half_bars_double_bars_and_a_stalled_phase():
    times, truth = sawtooth(bar_seconds=2.0)
    assert metrics.bar_rate_ratio(times, truth, truth) == pytest.approx(1.0)
    assert metrics.bar_rate_ratio(times, np.mod(truth + 0.3, 1.0), truth) == pytest.approx(1.0)  # an offset is not a rate
    assert metrics.bar_rate_ratio(times, sawtooth(bar_seconds=1.0)[1], truth) == pytest.approx(2.0, rel=0.01)
    assert metrics.bar_rate_ratio(times, sawtooth(bar_seconds=4.0)[1], truth) == pytest.approx(0.5, rel=0.01)
    assert metrics.bar_rate_ratio(times, np.full_like(truth, 0.3), truth) == pytest.approx(0.0)
    assert np.isnan(metrics.bar_rate_ratio(times[:100], truth[:100], truth[:100]))  # all within the skipped start
