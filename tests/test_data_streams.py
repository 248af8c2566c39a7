import numpy as np
import pytest
import tensorflow as tf

from ssl_pipelines.data import ConfigError, eval_stream, random_translate_flip, ssl_stream


def _arrays():
    x_l = np.arange(6 * 4 * 4, dtype=np.float32).reshape(6, 4, 4, 1)
    y_l = np.arange(6) % 3
    x_u = -np.arange(10 * 4 * 4, dtype=np.float32).reshape(10, 4, 4, 1) - 1
    return x_l, y_l, x_u


def test_ssl_stream_yields_configured_shapes_and_indices():
    x_l, y_l, x_u = _arrays()
    ds = ssl_stream(x_l, y_l, x_u, batch_labeled=2, batch_unlabeled=5, with_indices=True, seed=0)
    batches = list(ds.take(6))
    b = batches[0]
    assert b["x_labeled"].shape == (2, 4, 4, 1) and b["y_labeled"].dtype == tf.int32
    assert b["x_unlabeled"].shape == (5, 4, 4, 1)
    for b in batches:
        il, iu = b["index_labeled"].numpy(), b["index_unlabeled"].numpy()
        np.testing.assert_array_equal(b["x_labeled"].numpy(), x_l[il])
        np.testing.assert_array_equal(b["y_labeled"].numpy(), y_l[il])
        assert (iu >= 6).all() and (iu < 16).all()  # unlabeled rows offset by n_labeled
        np.testing.assert_array_equal(b["x_unlabeled"].numpy(), x_u[iu - 6])
    # three labeled batches = one shuffled pass over all 6 labeled examples
    seen = np.concatenate([b["index_labeled"].numpy() for b in batches[:3]])
    assert sorted(seen.tolist()) == list(range(6))


def test_ssl_stream_is_seeded():
    x_l, y_l, x_u = _arrays()
    take = lambda s: [b["index_unlabeled"].numpy().tolist() for b in  # noqa: E731
                      ssl_stream(x_l, y_l, x_u, batch_labeled=2, batch_unlabeled=5, with_indices=True, seed=s).take(4)]
    assert take(1) == take(1)
    assert take(1) != take(2)


def test_labeled_only_stream():
    x_l, y_l, _ = _arrays()
    b = next(iter(ssl_stream(x_l, y_l, batch_labeled=3)))
    assert set(b) == {"x_labeled", "y_labeled"}


@pytest.mark.parametrize("kwargs, message", [
    ({"batch_labeled": 7, "batch_unlabeled": 5}, "batch_labeled=7 is larger than the 6 labeled"),
    ({"batch_labeled": 2, "batch_unlabeled": 11}, "batch_unlabeled=11 is larger than the 10 unlabeled"),
    ({"batch_labeled": 0, "batch_unlabeled": 5}, "batch_labeled must be a positive integer, got 0"),
])
def test_bad_batch_sizes(kwargs, message):
    x_l, y_l, x_u = _arrays()
    with pytest.raises(ConfigError, match=message):
        ssl_stream(x_l, y_l, x_u, **kwargs)


def test_augmentation_translates_by_whole_pixels_with_reflection():
    x = tf.reshape(tf.range(2 * 5 * 5, dtype=tf.float32), (2, 5, 5, 1))
    out = random_translate_flip(x, max_shift=2, flip=False, seed=tf.constant([1, 2])).numpy()
    assert out.shape == (2, 5, 5, 1)
    # every output pixel is a value of the same input image (integer shift + reflect padding)
    for i in range(2):
        assert set(out[i].ravel()) <= set(x.numpy()[i].ravel())
    flipped = random_translate_flip(x, max_shift=0, flip=True, seed=tf.constant([3, 4])).numpy()
    for i in range(2):
        assert np.array_equal(flipped[i], x.numpy()[i]) or np.array_equal(flipped[i], x.numpy()[i, :, ::-1])


def test_eval_stream_keeps_order():
    x = np.arange(10, dtype=np.float32).reshape(10, 1, 1, 1)
    got = np.concatenate([b[0].numpy() for b in eval_stream(x, np.zeros(10), batch_size=3)])
    np.testing.assert_array_equal(got, x)
