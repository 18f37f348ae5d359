"""Optimizers against PyTorch's and a NumPy transcription of Keras's update rules."""

import jax.numpy as jnp
import numpy as np
import optax
import pytest
import torch

from cnnlab.train import OPTIMIZERS, inverse_time_decay, make_optimizer
from tests.tolerances import assert_close

STEPS = 6


def _grads(seed=0, shape=(3, 4)):
    rng = np.random.default_rng(seed)
    return [rng.normal(size=shape).astype(np.float32) for _ in range(STEPS)]


def _optax_run(tx, p0, grads):
    p = jnp.asarray(p0)
    state = tx.init(p)
    for g in grads:
        updates, state = tx.update(jnp.asarray(g), state, p)
        p = optax.apply_updates(p, updates)
    return np.asarray(p)


def _torch_run(make, p0, grads):
    p = torch.nn.Parameter(torch.tensor(p0))
    opt = make([p])
    for g in grads:
        opt.zero_grad()
        p.grad = torch.tensor(g)
        opt.step()
    return p.detach().numpy()


@pytest.mark.parametrize(
    "name, config, torch_make",
    [
        ("adam", dict(learning_rate=0.01), lambda ps: torch.optim.Adam(ps, lr=0.01, eps=1e-7)),
        ("sgd", dict(learning_rate=0.1), lambda ps: torch.optim.SGD(ps, lr=0.1)),
        ("sgd", dict(learning_rate=0.1, momentum=0.9), lambda ps: torch.optim.SGD(ps, lr=0.1, momentum=0.9)),
        ("sgd", dict(learning_rate=0.1, momentum=0.9, nesterov=True),
         lambda ps: torch.optim.SGD(ps, lr=0.1, momentum=0.9, nesterov=True)),
        # torch's RMSprop adds eps outside the root, as Keras does; its alpha is Keras's rho.
        ("rmsprop", dict(learning_rate=0.01), lambda ps: torch.optim.RMSprop(ps, lr=0.01, alpha=0.9, eps=1e-7)),
        ("adadelta", dict(), lambda ps: torch.optim.Adadelta(ps, lr=0.5, rho=0.95, eps=1e-7)),
    ],
)
def test_against_torch(name, config, torch_make):
    p0 = np.random.default_rng(1).normal(size=(3, 4)).astype(np.float32)
    grads = _grads()
    ours = _optax_run(make_optimizer(name, **config), p0, grads)
    theirs = _torch_run(torch_make, p0, grads)
    assert not np.allclose(ours, p0)  # the optimizer moved
    assert_close(ours, theirs, np.float32)


def test_rmsprop_classic_decay_against_keras_rule():
    """Keras 2's RMSprop: lr_t = lr / (1 + decay * t); a = rho a + (1-rho) g^2; p -= lr_t g / (sqrt(a) + eps)."""
    lr, decay, rho, eps = 0.01, 0.05, 0.9, 1e-7
    p0 = np.random.default_rng(2).normal(size=(3, 4))
    grads = _grads(3)
    p, a = p0.copy(), np.zeros_like(p0)
    for t, g in enumerate(grads):
        a = rho * a + (1 - rho) * g.astype(np.float64) ** 2
        p = p - lr / (1 + decay * t) * g / (np.sqrt(a) + eps)
    ours = _optax_run(make_optimizer("rmsprop", learning_rate=lr, decay=decay), p0.astype(np.float32), grads)
    assert_close(ours, p, np.float32)
    no_decay = _optax_run(make_optimizer("rmsprop", learning_rate=lr), p0.astype(np.float32), grads)
    assert not np.allclose(no_decay, p, rtol=1e-5, atol=1e-5)  # the decay matters at these numbers


def test_inverse_time_decay_literal():
    sched = inverse_time_decay(0.1, 1.0)
    np.testing.assert_allclose([float(sched(jnp.asarray(s))) for s in (0, 1, 3)], [0.1, 0.05, 0.025], rtol=1e-6)


def test_schedule_as_learning_rate():
    """An optax schedule drives the step size: step t moves by lr(t) under plain sgd."""
    sched = optax.piecewise_constant_schedule(0.1, {2: 0.1})  # 0.1, 0.1, 0.01, ...
    grads = [np.ones((2,), np.float32)] * 4
    ours = _optax_run(make_optimizer("sgd", learning_rate=sched), np.zeros((2,), np.float32), grads)
    np.testing.assert_allclose(ours, -(0.1 + 0.1 + 0.01 + 0.01) * np.ones(2), rtol=1e-6)


def test_defaults_are_documented_ones():
    assert OPTIMIZERS["adadelta"]["learning_rate"] == 0.5 and OPTIMIZERS["adadelta"]["rho"] == 0.95
    assert set(OPTIMIZERS) == {"adam", "sgd", "rmsprop", "adadelta"}


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: make_optimizer("adagrad"), r"unknown optimizer 'adagrad'; known: \['adadelta', 'adam'"),
        (lambda: make_optimizer("sgd", beta=0.9), r"sgd takes no argument\(s\) \['beta'\]; it takes \["),
        (lambda: make_optimizer("adam", learning_rate=-1.0), r"learning_rate must be a positive number .* got -1.0"),
        (lambda: make_optimizer("rmsprop", learning_rate=inverse_time_decay(0.1, 0.1), decay=0.1), "not both"),
        (lambda: inverse_time_decay(0.1, -1.0), r"decay must be a non-negative number; got -1.0"),
    ],
)
def test_errors(call, match):
    with pytest.raises(ValueError, match=match):
        call()
