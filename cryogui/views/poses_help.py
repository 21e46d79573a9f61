"""The Poses panel's "How this works" text."""

HELP = """<h3>Poses: pose spheres, projections, orientation recovery</h3>
<p><b>Convention.</b> RELION rot, tilt, psi (ZYZ, degrees); A = R<sub>z</sub>(psi) R<sub>y</sub>(tilt)
R<sub>z</sub>(rot) maps the reference to the particle's view; the viewing direction (the beam in the reference frame)
is the third row of A, (cos rot sin tilt, sin rot sin tilt, cos tilt); psi is the in-plane angle.
Checked against <code>relion_project</code> and <code>relion_reconstruct</code>.</p>
<p><b>Sphere and Hammer map.</b> Each particle is a point at its viewing direction, coloured by the local density
&rho;(u) = mean<sub>j</sub> C(&kappa;) exp(&kappa;(&lt;u, v<sub>j</sub>&gt; - 1)) relative to a uniform sphere
(1 = uniform). The Hammer map is equal-area: a uniform set fills it evenly. Click a point to select a particle: the
map on the right turns to that pose (seen along the beam).</p>
<p><b>Generator.</b> N projections at rot, psi uniform in [shift, shift + coverage] and tilt area-uniform in its
band, optional CTF (defocus 1.5-3.5 &mu;m) and Gaussian noise at SNR = var(signal) / var(noise).</p>
<p><b>Distance learning.</b> A Siamese CNN f embeds each image; d&#770;(x<sub>i</sub>, x<sub>j</sub>) =
2 arcsin(||f(x<sub>i</sub>) - f(x<sub>j</sub>)|| / 2&radic;2) (the angle of two rotations whose matrices lie that far
apart, so that the geometry of the embedding can match that of orientations) is trained to equal the angle
2 arccos|&lt;q<sub>i</sub>, q<sub>j</sub>&gt;| between the orientations. Each step embeds B images once and uses all B(B-1)/2 pairs. Plots: loss, and predicted
vs true distance of held-out pairs (the diagonal is perfect).</p>
<p><b>Recovery.</b> Quaternions q<sub>i</sub> minimise mean (2 arccos|&lt;q<sub>i</sub>, q<sub>j</sub>&gt;| -
d<sub>ij</sub>)<sup>2</sup> over random mini-batches of pairs with Adam, from several random starts (the best is
kept). Targets: <i>exact</i> (true angles: a sanity check), <i>learned</i> (the Siamese network) or <i>image</i>
(Euclidean image distance mapped to an angle by rank: the baseline). Distances cannot see a global rotation or a
mirror, so the result is aligned to the truth by the best orthogonal map of the quaternions (SO(4): a rotation of
reference and image frames; det -1: mirror) before errors are measured. Lines join each true direction to its
recovered one; the histogram shows the per-particle errors.</p>
<p><b>Controls.</b> Speed slows the job between snapshots (teaching); Step runs to the next snapshot and pauses;
Export writes the recovered poses (aligned to the truth when it is known) as a RELION STAR file.</p>"""
