"""reproduce-keras's seed-000 step: the assignment's Keras autoencoder trained as it was, then rerun one op at a time.

Seed 000 (Visual Recognition assignment 4, section 1) trains Listing 3's autoencoder with
Listing 8's ``Adadelta(lr=0.5, rho=0.95)`` and binary cross-entropy for 30 epochs, saves its
weights as NumPy and reproduces Keras's output with its own functions (Figure 1.2). The
maths is `cnnlab.interop.seed000`; this step trains, compares and reports.
"""

from dataclasses import dataclass

import numpy as np

S000 = "seed 000 (Visual Recognition assignment 4)"


@dataclass(frozen=True)
class Result:
    """What the rest of reproduce-keras uses: the cnnlab model loaded from Keras, and the checks."""

    model: object
    ok: dict


def _shape(s) -> str:
    return "(" + ", ".join("None" if d is None else str(d) for d in s) + ")"


def param_tables(keras_parts: dict, model) -> tuple[str, dict]:
    """Listings 1 and 2 beside Keras's and cnnlab's own tables.

    Returns:
      The markdown tables, the totals ``{part: (cnnlab, Keras, seed)}``, and whether every
      layer's output shape agrees three ways.
    """
    from cnnlab import summary
    from cnnlab.interop import seed000

    rows = summary.summary_rows(model, (28, 28, 1))
    text, totals, shapes_ok = [], {}, True
    for part, (listing, seed_total) in seed000.LISTINGS.items():
        ours = [r for r in rows if r.part == part]
        theirs = keras_parts[part].layers
        lines = [
            f"| {s_name} | {o.name} ({o.kind}) | {_shape(o.output_shape)} | {_shape(k.output.shape)} | "
            f"{_shape(s_shape)} | {o.params:,} | {k.count_params():,} | {s_n:,} |"
            for (s_name, s_shape, s_n), o, k in zip(listing, ours, theirs, strict=True)
        ]
        totals[part] = (sum(o.params for o in ours), keras_parts[part].count_params(), seed_total)
        shapes_ok &= all(
            o.output_shape == tuple(k.output.shape) == s_shape for (_, s_shape, _), o, k in zip(listing, ours, theirs)
        )
        n = totals[part]
        text.append(
            f"**{part.capitalize()}** ({S000}, Listing {1 if part == 'encoder' else 2}):\n\n"
            "| seed's layer | cnnlab layer | output shape (cnnlab) | (Keras) | (seed) | Param # (cnnlab) | (Keras) | "
            "(seed) |\n| --- | --- | --- | --- | --- | --- | --- | --- |\n" + "\n".join(lines)
            + f"\n| **Total params** | | | | | **{n[0]:,}** | **{n[1]:,}** | **{n[2]:,}** |"
        )  # fmt: skip
    return "\n\n".join(text), totals, shapes_ok


def run(r, keras, x_train, x_test) -> Result:
    """Trains seed 000's autoencoder in Keras as the seed did; reruns it op by op and through cnnlab's model."""
    import jax.numpy as jnp
    from flax import nnx

    from cnnlab import models
    from cnnlab.interop import keras as kio
    from cnnlab.interop import seed000
    from cnnlab.studies._harness import plural
    from cnnlab.viz import agreement

    cfg = r.cfg
    epochs, batch = cfg.ae_epochs, cfg.ae_batch_size
    how = (
        f"Keras {keras.__version__}, Adadelta(learning_rate=0.5, rho=0.95), binary cross-entropy, "
        f"{plural(epochs, 'epoch')} at batch {batch} on {plural(len(x_train), 'offline training digit')}"
    )
    r.log(f"training seed 000's autoencoder in Keras ({how})")
    model, encoder, decoder = seed000.keras_model(keras)
    seed000.compile_as_seed(keras, model)
    hist = model.fit(x_train, x_train, epochs=epochs, batch_size=batch, shuffle=True,
                     validation_data=(x_test, x_test), verbose=0)  # fmt: skip
    npz, h5 = r.out / "seed000_weights.npz", r.out / "conv_autoencoder.weights.h5"
    seed000.save_npz(encoder, decoder, npz)
    model.save_weights(h5)
    k_rec = np.asarray(model.predict(x_test, batch_size=batch, verbose=0))
    steps: list = []
    s_rec = np.asarray(seed000.forward(seed000.load_npz(npz), x_test, trace=steps))
    ae = models.ConvAutoencoder(rngs=nnx.Rngs(r.seed))
    kio.load_weights(ae, h5)
    o_rec = np.asarray(nnx.jit(lambda m, x: m(x))(ae, jnp.asarray(x_test)))
    op_diff, nnx_diff = float(np.abs(s_rec - k_rec).max()), float(np.abs(o_rec - k_rec).max())
    tables, totals, shapes_ok = param_tables({"encoder": encoder, "decoder": decoder}, ae)
    params_ok = shapes_ok and all(len(set(t)) == 1 for t in totals.values())
    loss = hist.history
    r.metric(
        ae_max_abs_diff=nnx_diff, seed000_op_by_op_max_abs_diff=op_diff, seed000_params=totals,
        ae_keras_train_loss=float(loss["loss"][-1]), ae_keras_val_loss=float(loss["val_loss"][-1]),
        ae_test_mse_keras=float(np.mean((k_rec - x_test) ** 2)),
        ae_test_mse_cnnlab=float(np.mean((o_rec - x_test) ** 2)),
    )  # fmt: skip
    for part, listing in (("encoder", 1), ("decoder", 2)):
        r.compare(f"seed 000 {part}: total parameters (cnnlab)", totals[part][0], totals[part][2],
                  source=f"{S000}, Listing {listing}", note=f"Keras 3 counts {totals[part][1]:,}")  # fmt: skip
    r.compare(
        "seed 000 Listing 8: op-by-op forward pass from the .npz weights, max abs difference from Keras",
        op_diff, f"<= {cfg.ae_tol:.0e}", source=f"{S000}, section 1.3 and Figure 1.2 (no number printed)",
        note=f"cnnlab.ops one call per line of Listing 8; {plural(len(x_test), 'test digit')}",
    )  # fmt: skip
    r.compare("ConvAutoencoder (Keras .weights.h5 file): max abs difference of reconstructions", nnx_diff,
              f"<= {cfg.ae_tol:.0e}", source="float32 summation order", note="the same Keras model")  # fmt: skip
    step_rows = "\n".join(
        f"| {i + 1} | `{seed}` | `{ours}` | {_shape((None, *s[1:]))} |"
        for i, ((seed, ours), s) in enumerate(zip(seed000.STEPS, steps, strict=True))
    )
    r.section(
        f"**{S000}, section 1.** Listing 3's autoencoder trained as Listing 8 trains it ({how}; the seed trains "
        "30 epochs on MNIST's 60,000 digits and does not print its batch size, so it is Keras's default, 32). "
        f"Final binary cross-entropy: train {loss['loss'][-1]:.4f}, validation {loss['val_loss'][-1]:.4f} (the "
        f"seed prints none). Its weights were saved as NumPy (`{npz.name}`, keyed `encoder/0/kernel`, ... by the "
        "Keras layer index Listing 8 reads) and the forward pass rerun from them one `cnnlab.ops` call per line "
        f"of Listing 8: max abs difference from Keras {op_diff:.2e}; through `cnnlab.models.ConvAutoencoder` "
        f"{nnx_diff:.2e}.\n\n| step | seed's Listing 8 | cnnlab | output shape |\n| --- | --- | --- | --- |\n"
        + step_rows
    )
    r.section(tables)
    r.figure(
        agreement.reconstructions(
            x_test, k_rec, s_rec, names=("Keras", "op by op"),
            title=f"{S000}, Figures 1.1 and 1.2: originals, Keras's reconstructions, the same weights op by op",
        ),
        "seed000_figure_1_2.png",
        f"{S000}, Figures 1.1 and 1.2: test digits (top), Listing 3's autoencoder in Keras (middle; trained by "
        f"{how}), and the seed's Listing 8 forward pass from the weights saved as NumPy, one cnnlab.ops call at "
        f"a time (bottom): max abs difference {op_diff:.1e}.",
    )  # fmt: skip
    ok = {"conv_autoencoder": nnx_diff <= cfg.ae_tol, "seed000_op_by_op": op_diff <= cfg.ae_tol,
          "seed000_params": params_ok}  # fmt: skip
    return Result(ae, ok)
