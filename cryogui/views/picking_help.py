"""The Picking panel's "How this works" text."""

HELP_HTML = """
<h3>Picking: review, curate and auto-pick without knowing the particle size</h3>
<p><b>Auto-pick (default picker).</b> The micrograph is looked at through the scale-normalised Laplacian of
Gaussian at many scales <i>s</i> (4 per octave, on a binned pyramid):
<br>&nbsp;&nbsp;R<sub>s</sub>(x) = s<sup>2</sup> &nabla;<sup>2</sup>(G<sub>s</sub> * I)(x).
<br>A dark blob of diameter <i>d</i> answers most strongly at s &asymp; d / 3.3 (a projected sphere), whatever
its size, so the particle size is read from the data: every strong, round maximum votes for its own best scale and
the most voted scale is the dominant diameter d<sub>0</sub>. This is the seed's <b>size-consistency prior</b>
(one particle species has one size): picks whose own diameter d<sub>i</sub> is far from d<sub>0</sub> are
down-weighted by exp(-ln(d<sub>i</sub>/d<sub>0</sub>)<sup>2</sup> / 2&middot;0.3<sup>2</sup>).
Picks are the maxima of R at d<sub>0</sub>, at least 0.6&nbsp;d<sub>0</sub> apart (no duplicates). Edges (carbon, the
rim of ice contamination) are rejected by the Hessian eigenvalue ratio and the slope-to-curvature ratio;
over-dark spots (contamination) by their darkness. The confidence is
sigmoid((z - z<sub>c</sub>)/0.75) times these weights, where z is the response in noise units and z<sub>c</sub>
sits just above the largest z that noise alone would give on this micrograph. The default threshold is 0.5.</p>
<p><b>Metrics.</b> With a truth file loaded, predictions are matched greedily by confidence to the nearest unmatched
truth centre within 0.3 &times; diameter. Precision = TP / predictions, recall = TP / truth,
F = 2PR / (P + R), AP = area under the precision-recall curve swept over the threshold (the dot is the current
threshold). Circles: green true positive, red false positive, dashed orange missed truth.</p>
<p><b>Controls.</b></p>
<ul>
<li><b>Micrograph list</b>: picks after the filters, good/bad flag (click the cell), reviewed mark.</li>
<li><b>Contrast</b>: levels from the 1st-99th percentiles narrowed around the median; <b>Invert</b>;
<b>Low-pass / High-pass</b> in &Aring; (Gaussian, half transfer at 1/R); large micrographs are binned for display.</li>
<li><b>Threshold</b> and <b>Size</b> range: filter picks live; histograms of the current micrograph.</li>
<li><b>Circles</b>: each pick's estimated diameter, or a fixed box size.</li>
</ul>
<p><b>Mouse and keys.</b></p>
<table>
<tr><td>Click (Add mode)</td><td>add a pick (on a pick: select it)</td></tr>
<tr><td>Drag a pick (Add mode)</td><td>move it</td></tr>
<tr><td>Click (Delete mode)</td><td>remove the pick under the cursor</td></tr>
<tr><td>Drag (Select mode)</td><td>rubber band: select, then Delete removes</td></tr>
<tr><td>Drag elsewhere / wheel</td><td>pan / zoom</td></tr>
<tr><td>A / D / S</td><td>Add / Delete / Select mode</td></tr>
<tr><td>Delete, Backspace</td><td>remove the selected picks</td></tr>
<tr><td>Ctrl+Z / Ctrl+Shift+Z</td><td>undo / redo (every edit)</td></tr>
<tr><td>N / P (or Page Down / Up)</td><td>next / previous micrograph (marks the one you leave as reviewed)</td></tr>
<tr><td>G / B</td><td>mark the micrograph good / bad</td></tr>
</table>
<p>Every edit is written to a journal on disk as it happens; if the application is killed, the next start offers to
restore the curation. Exports are written atomically.</p>
"""
