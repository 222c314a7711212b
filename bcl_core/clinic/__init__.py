"""What the app's screens and reports need, without streamlit: the consult's logic, the demo
case, slice rendering and the browser viewer's data, PDF/JSON reports, the patient handout and
what the sidebar says about the installed models."""
