"""askpanel: an assistant for learning from the Service Transformation Challenge Panel report and its case studies."""

from .assistant import Assistant
from .models import Answer, Citation, Document, DocumentRecord, Idea, IngestReport, Passage

__all__ = ["Answer", "Assistant", "Citation", "Document", "DocumentRecord", "Idea", "IngestReport", "Passage"]
__version__ = "0.1.0"
