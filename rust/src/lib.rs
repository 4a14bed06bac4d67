//! Change-point scans of the Vitals feature panel, many rows at once.
//!
//! Each row is one monitored quantity of one series; each column one time bucket,
//! oldest first. For every split of a row's buckets into a *before* segment (older
//! columns plus `prior_n` pseudo-observations at `prior_mean`) and an *after* segment
//! (the newest columns), a scan computes the likelihood ratio of "the level changed at
//! the split" against "no change" and keeps the best split whose estimated change goes
//! the watched way by at least `gate`. The Python side (`monitor.core.detectors.glr`)
//! documents the statistics; this crate only computes them.
//!
//! Per row the scans return the best split's signed-root statistic `z` and index
//! (-1: none passed), the two segments' levels and sizes, and the standard error of
//! the change. A row with no passing split reports those figures at its most recent
//! allowed split (`last`), so a reader always sees "recent level vs history".

use numpy::{IntoPyArray, PyArray1, PyReadonlyArray1, PyReadonlyArray2, PyReadonlyArray3};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

const EPS: f64 = 1e-12;

type Out<'py> = (
    Bound<'py, PyArray1<f64>>,
    Bound<'py, PyArray1<i64>>,
    Bound<'py, PyArray1<f64>>,
    Bound<'py, PyArray1<f64>>,
    Bound<'py, PyArray1<f64>>,
    Bound<'py, PyArray1<f64>>,
    Bound<'py, PyArray1<f64>>,
);

/// One row's result: z, split, before, after, n_before, n_after, se.
#[derive(Clone, Copy)]
struct Best {
    z: f64,
    k: i64,
    before: f64,
    after: f64,
    n1: f64,
    n2: f64,
    se: f64,
}

impl Best {
    fn none() -> Self {
        Best { z: 0.0, k: -1, before: f64::NAN, after: f64::NAN, n1: 0.0, n2: 0.0, se: f64::NAN }
    }
}

struct Results {
    z: Vec<f64>,
    k: Vec<i64>,
    before: Vec<f64>,
    after: Vec<f64>,
    n1: Vec<f64>,
    n2: Vec<f64>,
    se: Vec<f64>,
}

impl Results {
    fn with_capacity(rows: usize) -> Self {
        Results {
            z: Vec::with_capacity(rows),
            k: Vec::with_capacity(rows),
            before: Vec::with_capacity(rows),
            after: Vec::with_capacity(rows),
            n1: Vec::with_capacity(rows),
            n2: Vec::with_capacity(rows),
            se: Vec::with_capacity(rows),
        }
    }

    fn push(&mut self, b: Best) {
        self.z.push(b.z);
        self.k.push(b.k);
        self.before.push(b.before);
        self.after.push(b.after);
        self.n1.push(b.n1);
        self.n2.push(b.n2);
        self.se.push(b.se);
    }

    fn into_py<'py>(self, py: Python<'py>) -> Out<'py> {
        (
            self.z.into_pyarray(py),
            self.k.into_pyarray(py),
            self.before.into_pyarray(py),
            self.after.into_pyarray(py),
            self.n1.into_pyarray(py),
            self.n2.into_pyarray(py),
            self.se.into_pyarray(py),
        )
    }
}

#[inline]
fn xlogy(a: f64, b: f64) -> f64 {
    if a == 0.0 {
        0.0
    } else {
        a * b.ln()
    }
}

#[inline]
fn clamp(v: f64, lo: f64, hi: f64) -> f64 {
    if v < lo {
        lo
    } else if v > hi {
        hi
    } else {
        v
    }
}

/// `out[k]` = the sum of the first `k` values (before-segment sums, added forwards so a
/// short before segment is exact rather than a total minus a suffix).
fn prefix<'a>(values: impl Iterator<Item = &'a f64>, out: &mut [f64]) {
    out[0] = 0.0;
    for (k, v) in values.enumerate() {
        out[k + 1] = out[k] + v;
    }
}

/// Per-row parameters shared by the scans.
struct Params<'a> {
    gate: &'a [f64],
    prior_n: &'a [f64],
    phi: &'a [f64],
    min_after: &'a [f64],
    last: &'a [i64],
}

fn check(rows: usize, lens: &[(&str, usize)]) -> PyResult<()> {
    for (name, len) in lens {
        if *len != rows {
            return Err(PyValueError::new_err(format!("{name} has {len} entries for {rows} rows")));
        }
    }
    Ok(())
}

fn rate_split(
    n1: f64,
    x1: f64,
    n2: f64,
    x2: f64,
    phi: f64,
) -> (f64, f64, f64, f64) {
    let x1 = clamp(x1, 0.0, n1);
    let x2 = clamp(x2, 0.0, n2);
    let p1 = x1 / n1.max(EPS);
    let p2 = x2 / n2.max(EPS);
    let nt = n1 + n2;
    let xt = x1 + x2;
    let pt = xt / nt.max(EPS);
    let llr = xlogy(x1, p1) + xlogy(n1 - x1, 1.0 - p1) + xlogy(x2, p2) + xlogy(n2 - x2, 1.0 - p2)
        - xlogy(xt, pt)
        - xlogy(nt - xt, 1.0 - pt);
    let z = (2.0 * llr.max(0.0) / phi).sqrt();
    (z, p1, p2, pt)
}

/// Best change-point per row for rates: `x` successes of `n` per bucket.
#[pyfunction]
#[allow(clippy::too_many_arguments)]
fn binomial_scan<'py>(
    py: Python<'py>,
    n: PyReadonlyArray2<'py, f64>,
    x: PyReadonlyArray2<'py, f64>,
    direction: PyReadonlyArray1<'py, f64>,
    gate: PyReadonlyArray1<'py, f64>,
    relative: PyReadonlyArray1<'py, f64>,
    prior_n: PyReadonlyArray1<'py, f64>,
    prior_mean: PyReadonlyArray1<'py, f64>,
    phi: PyReadonlyArray1<'py, f64>,
    min_after: PyReadonlyArray1<'py, f64>,
    last: PyReadonlyArray1<'py, i64>,
) -> PyResult<Out<'py>> {
    let n = n.as_array();
    let x = x.as_array();
    let (rows, t) = n.dim();
    if x.dim() != (rows, t) {
        return Err(PyValueError::new_err("n and x must have the same shape"));
    }
    let (direction, relative, prior_mean) =
        (direction.as_slice()?, relative.as_slice()?, prior_mean.as_slice()?);
    let p = Params {
        gate: gate.as_slice()?,
        prior_n: prior_n.as_slice()?,
        phi: phi.as_slice()?,
        min_after: min_after.as_slice()?,
        last: last.as_slice()?,
    };
    check(rows, &[("direction", direction.len()), ("gate", p.gate.len()),
                  ("relative", relative.len()), ("prior_n", p.prior_n.len()),
                  ("prior_mean", prior_mean.len()), ("phi", p.phi.len()),
                  ("min_after", p.min_after.len()), ("last", p.last.len())])?;
    let mut out = Results::with_capacity(rows);
    py.detach(|| {
        let mut pre_n = vec![0.0; t + 1];
        let mut pre_x = vec![0.0; t + 1];
        for r in 0..rows {
            let row_n = n.row(r);
            let row_x = x.row(r);
            prefix(row_n.iter(), &mut pre_n);
            prefix(row_x.iter(), &mut pre_x);
            let (pn, pm, ph) = (p.prior_n[r], prior_mean[r], p.phi[r]);
            let need_after = p.min_after[r].max(EPS);
            let mut best = Best::none();
            let mut fallback = Best::none();
            let (mut an, mut ax) = (0.0, 0.0);
            for k in (0..t).rev() {
                an += row_n[k];
                ax += row_x[k];
                if k as i64 > p.last[r] {
                    continue;
                }
                let data_before = pre_n[k];
                if an < need_after || !(data_before > 0.0 || pn > 0.0) {
                    continue;
                }
                let n1 = data_before + pn;
                let x1 = pre_x[k] + pn * pm;
                let (z, p1, p2, pt) = rate_split(n1, x1, an, ax, ph);
                let se = (ph * pt * (1.0 - pt) * (1.0 / n1.max(EPS) + 1.0 / an.max(EPS))).sqrt();
                let here = Best { z, k: k as i64, before: p1, after: p2, n1, n2: an, se };
                if k as i64 == p.last[r] {
                    fallback = Best { z: 0.0, k: -1, ..here };
                }
                let need = if relative[r] > 0.0 { p.gate[r] * p1 } else { p.gate[r] };
                if direction[r] * (p2 - p1) < need || z <= 0.0 {
                    continue;
                }
                if z >= best.z {
                    best = here;
                }
            }
            out.push(if best.k >= 0 { best } else { fallback });
        }
    });
    Ok(out.into_py(py))
}

/// Best change-point per row for a mean: bucket counts, sums and sums of squares.
#[pyfunction]
#[allow(clippy::too_many_arguments)]
fn gaussian_scan<'py>(
    py: Python<'py>,
    n: PyReadonlyArray2<'py, f64>,
    s1: PyReadonlyArray2<'py, f64>,
    s2: PyReadonlyArray2<'py, f64>,
    direction: PyReadonlyArray1<'py, f64>,
    gate: PyReadonlyArray1<'py, f64>,
    prior_n: PyReadonlyArray1<'py, f64>,
    prior_mean: PyReadonlyArray1<'py, f64>,
    phi: PyReadonlyArray1<'py, f64>,
    min_after: PyReadonlyArray1<'py, f64>,
    last: PyReadonlyArray1<'py, i64>,
    var_floor: PyReadonlyArray1<'py, f64>,
) -> PyResult<Out<'py>> {
    let n = n.as_array();
    let s1 = s1.as_array();
    let s2 = s2.as_array();
    let (rows, t) = n.dim();
    if s1.dim() != (rows, t) || s2.dim() != (rows, t) {
        return Err(PyValueError::new_err("n, s1 and s2 must have the same shape"));
    }
    let (direction, prior_mean, var_floor) =
        (direction.as_slice()?, prior_mean.as_slice()?, var_floor.as_slice()?);
    let p = Params {
        gate: gate.as_slice()?,
        prior_n: prior_n.as_slice()?,
        phi: phi.as_slice()?,
        min_after: min_after.as_slice()?,
        last: last.as_slice()?,
    };
    check(rows, &[("direction", direction.len()), ("gate", p.gate.len()),
                  ("prior_n", p.prior_n.len()), ("prior_mean", prior_mean.len()),
                  ("phi", p.phi.len()), ("min_after", p.min_after.len()),
                  ("last", p.last.len()), ("var_floor", var_floor.len())])?;
    let mut out = Results::with_capacity(rows);
    py.detach(|| {
        let mut pre_n = vec![0.0; t + 1];
        let mut pre_a = vec![0.0; t + 1];
        let mut pre_q = vec![0.0; t + 1];
        for r in 0..rows {
            let (rn, ra, rq) = (n.row(r), s1.row(r), s2.row(r));
            prefix(rn.iter(), &mut pre_n);
            prefix(ra.iter(), &mut pre_a);
            prefix(rq.iter(), &mut pre_q);
            let (pn, pm, ph) = (p.prior_n[r], prior_mean[r], p.phi[r]);
            let need_after = p.min_after[r].max(EPS);
            let mut best = Best::none();
            let mut fallback = Best::none();
            let (mut n2, mut a2, mut q2) = (0.0, 0.0, 0.0);
            for k in (0..t).rev() {
                n2 += rn[k];
                a2 += ra[k];
                q2 += rq[k];
                if k as i64 > p.last[r] {
                    continue;
                }
                let (n1d, a1d, q1d) = (pre_n[k], pre_a[k], pre_q[k]);
                if n2 < need_after || !(n1d > 0.0 || pn > 0.0) {
                    continue;
                }
                let ss = (q1d - a1d * a1d / n1d.max(EPS)).max(0.0)
                    + (q2 - a2 * a2 / n2.max(EPS)).max(0.0);
                let var = (ss / (n1d + n2 - 2.0).max(1.0)).max(var_floor[r]);
                let n1 = n1d + pn;
                let m1 = (a1d + pn * pm) / n1.max(EPS);
                let m2 = a2 / n2.max(EPS);
                let d = m2 - m1;
                let se = (ph * var * (1.0 / n1.max(EPS) + 1.0 / n2.max(EPS))).sqrt();
                let signed = if direction[r] == 0.0 { d.abs() } else { direction[r] * d };
                // the variance is estimated from the row's own observations: a t
                // statistic on n1d + n2 - 2 degrees of freedom, read as a normal z
                let z = t_to_z(signed / se.max(EPS), n1d + n2 - 2.0);
                let here = Best { z, k: k as i64, before: m1, after: m2, n1, n2, se };
                if k as i64 == p.last[r] {
                    fallback = Best { z: 0.0, k: -1, ..here };
                }
                if signed < p.gate[r] || var <= 0.0 || z <= 0.0 {
                    continue;
                }
                if z >= best.z {
                    best = here;
                }
            }
            out.push(if best.k >= 0 { best } else { fallback });
        }
    });
    Ok(out.into_py(py))
}

/// The normal quantile with the same upper tail as Student's t with `df` degrees of
/// freedom (Wallace 1959: within 0.01 for df >= 10 and z <= 6, slightly conservative
/// below); sign kept.
#[inline]
fn t_to_z(t: f64, df: f64) -> f64 {
    let df = df.max(1.0);
    let z = (8.0 * df + 1.0) / (8.0 * df + 3.0) * (df * (t * t / df).ln_1p()).sqrt();
    if t < 0.0 { -z } else { z }
}

/// Normal quantile with the chi-square(df) upper tail of `g` (Wilson-Hilferty).
#[inline]
fn chi2_to_z(g: f64, df: f64) -> f64 {
    let df = df.max(1.0);
    let c = 2.0 / (9.0 * df);
    ((g.max(0.0) / df).powf(1.0 / 3.0) - (1.0 - c)) / c.sqrt()
}

/// Best change-point per row for category frequencies: `counts` is (rows, buckets, K).
#[pyfunction]
#[allow(clippy::too_many_arguments)]
fn multinomial_scan<'py>(
    py: Python<'py>,
    counts: PyReadonlyArray3<'py, f64>,
    gate: PyReadonlyArray1<'py, f64>,
    prior_n: PyReadonlyArray1<'py, f64>,
    prior_freq: PyReadonlyArray2<'py, f64>,
    phi: PyReadonlyArray1<'py, f64>,
    min_after: PyReadonlyArray1<'py, f64>,
    last: PyReadonlyArray1<'py, i64>,
) -> PyResult<Out<'py>> {
    let c = counts.as_array();
    let (rows, t, kc) = c.dim();
    let pf = prior_freq.as_array();
    if pf.dim() != (rows, kc) {
        return Err(PyValueError::new_err("prior_freq must be (rows, categories)"));
    }
    let p = Params {
        gate: gate.as_slice()?,
        prior_n: prior_n.as_slice()?,
        phi: phi.as_slice()?,
        min_after: min_after.as_slice()?,
        last: last.as_slice()?,
    };
    check(rows, &[("gate", p.gate.len()), ("prior_n", p.prior_n.len()), ("phi", p.phi.len()),
                  ("min_after", p.min_after.len()), ("last", p.last.len())])?;
    let mut out = Results::with_capacity(rows);
    py.detach(|| {
        let mut after = vec![0.0; kc];
        let mut pre = vec![0.0; (t + 1) * kc];
        let mut pre_n = vec![0.0; t + 1];
        for r in 0..rows {
            for j in 0..kc {
                after[j] = 0.0;
            }
            for k in 0..t {
                let mut row_total = 0.0;
                for j in 0..kc {
                    pre[(k + 1) * kc + j] = pre[k * kc + j] + c[[r, k, j]];
                    row_total += c[[r, k, j]];
                }
                pre_n[k + 1] = pre_n[k] + row_total;
            }
            let (pn, ph) = (p.prior_n[r], p.phi[r]);
            let need_after = p.min_after[r].max(EPS);
            let mut best = Best::none();
            let mut fallback = Best::none();
            let mut n2 = 0.0;
            for k in (0..t).rev() {
                for j in 0..kc {
                    after[j] += c[[r, k, j]];
                    n2 += c[[r, k, j]];
                }
                if k as i64 > p.last[r] {
                    continue;
                }
                let n1d = pre_n[k];
                if n2 < need_after || !(n1d > 0.0 || pn > 0.0) {
                    continue;
                }
                let n1 = n1d + pn;
                let nt = n1 + n2;
                let (mut g, mut seen, mut dmax, mut cat) = (0.0, 0.0, -1.0, 0usize);
                let (mut b1, mut b2, mut bt) = (0.0, 0.0, 0.0);
                for j in 0..kc {
                    let c1 = pre[k * kc + j] + pn * pf[[r, j]];
                    let c2 = after[j];
                    let ct = c1 + c2;
                    let f1 = c1 / n1.max(EPS);
                    let f2 = c2 / n2.max(EPS);
                    let ft = ct / nt.max(EPS);
                    g += xlogy(c1, f1) + xlogy(c2, f2) - xlogy(ct, ft);
                    if ct > 0.0 {
                        seen += 1.0;
                    }
                    let delta = (f2 - f1).abs();
                    if delta > dmax {
                        dmax = delta;
                        cat = j;
                        b1 = f1;
                        b2 = f2;
                        bt = ft;
                    }
                }
                let _ = cat;
                let z = chi2_to_z(2.0 * g / ph, seen - 1.0);
                let se = (ph * bt * (1.0 - bt) * (1.0 / n1.max(EPS) + 1.0 / n2.max(EPS))).sqrt();
                let here = Best { z, k: k as i64, before: b1, after: b2, n1, n2, se };
                if k as i64 == p.last[r] {
                    fallback = Best { z: 0.0, k: -1, ..here };
                }
                if dmax < p.gate[r] || seen < 2.0 || z <= 0.0 {
                    continue;
                }
                if z >= best.z {
                    best = here;
                }
            }
            out.push(if best.k >= 0 { best } else { fallback });
        }
    });
    Ok(out.into_py(py))
}

#[pymodule]
fn _scan(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(binomial_scan, m)?)?;
    m.add_function(wrap_pyfunction!(gaussian_scan, m)?)?;
    m.add_function(wrap_pyfunction!(multinomial_scan, m)?)?;
    Ok(())
}
