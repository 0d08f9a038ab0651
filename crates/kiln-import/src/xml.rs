//! A small element tree read from a Jenkins `config.xml` with quick-xml: names, attributes,
//! text and children, which is all job configurations hold (XStream writes no mixed content).

use quick_xml::Reader;
use quick_xml::events::{BytesStart, Event};

/// One XML element.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Element {
    pub(crate) name: String,
    pub(crate) attributes: Vec<(String, String)>,
    /// The text directly inside the element (entities and character references decoded).
    pub(crate) text: String,
    pub(crate) children: Vec<Element>,
}

/// Why a document could not be read, and the byte offset where the reader stopped.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct XmlError {
    pub(crate) offset: u64,
    pub(crate) reason: String,
}

/// The deepest nesting accepted; job configurations are a dozen levels deep.
const MAX_DEPTH: usize = 256;

/// Reads a whole document into its root element.
pub(crate) fn parse(text: &str) -> Result<Element, XmlError> {
    let mut reader = Reader::from_str(text);
    let mut stack: Vec<Element> = Vec::new();
    let fail = |reader: &Reader<&[u8]>, reason: String| XmlError {
        offset: reader.buffer_position(),
        reason,
    };
    loop {
        let event = reader
            .read_event()
            .map_err(|e| fail(&reader, e.to_string()))?;
        match event {
            Event::Start(e) => {
                if stack.len() >= MAX_DEPTH {
                    return Err(fail(&reader, "elements nested too deeply".into()));
                }
                stack.push(element(&e).map_err(|r| fail(&reader, r))?);
            }
            Event::Empty(e) => {
                let el = element(&e).map_err(|r| fail(&reader, r))?;
                match stack.last_mut() {
                    Some(parent) => parent.children.push(el),
                    None => return Ok(el),
                }
            }
            Event::End(_) => {
                let Some(done) = stack.pop() else {
                    return Err(fail(&reader, "closing tag without an opening one".into()));
                };
                match stack.last_mut() {
                    Some(parent) => parent.children.push(done),
                    None => return Ok(done),
                }
            }
            Event::Text(t) => {
                let s = t.decode().map_err(|e| fail(&reader, e.to_string()))?;
                push_text(&mut stack, &s);
            }
            Event::CData(t) => {
                let s = t.decode().map_err(|e| fail(&reader, e.to_string()))?;
                push_text(&mut stack, &s);
            }
            Event::GeneralRef(r) => {
                let name = r.decode().map_err(|e| fail(&reader, e.to_string()))?;
                let s = reference(&name)
                    .ok_or_else(|| fail(&reader, format!("unknown entity `&{name};`")))?;
                push_text(&mut stack, &s);
            }
            Event::Eof => {
                return Err(fail(
                    &reader,
                    "the document ends before its root element closes".into(),
                ));
            }
            Event::Decl(_) | Event::PI(_) | Event::Comment(_) | Event::DocType(_) => {}
        }
    }
}

fn push_text(stack: &mut [Element], s: &str) {
    if let Some(top) = stack.last_mut() {
        top.text.push_str(s);
    }
}

/// The text of `&name;`: a character reference or one of XML's five entities.
fn reference(name: &str) -> Option<String> {
    if let Some(num) = name.strip_prefix('#') {
        let code = match num.strip_prefix(['x', 'X']) {
            Some(hex) => u32::from_str_radix(hex, 16).ok()?,
            None => num.parse().ok()?,
        };
        return char::from_u32(code).map(String::from);
    }
    let c = match name {
        "amp" => '&',
        "lt" => '<',
        "gt" => '>',
        "quot" => '"',
        "apos" => '\'',
        _ => return None,
    };
    Some(c.to_string())
}

fn element(e: &BytesStart<'_>) -> Result<Element, String> {
    let name = String::from_utf8_lossy(e.name().as_ref()).into_owned();
    let mut attributes = Vec::new();
    for a in e.attributes() {
        let a = a.map_err(|err| err.to_string())?;
        let key = String::from_utf8_lossy(a.key.as_ref()).into_owned();
        let value = a
            .unescape_value()
            .map_err(|err| err.to_string())?
            .into_owned();
        attributes.push((key, value));
    }
    Ok(Element {
        name,
        attributes,
        ..Element::default()
    })
}

impl Element {
    /// The first child named `name`.
    pub(crate) fn child(&self, name: &str) -> Option<&Element> {
        self.children.iter().find(|c| c.name == name)
    }

    /// The element at a `/`-separated path of child names.
    pub(crate) fn at(&self, path: &str) -> Option<&Element> {
        path.split('/').try_fold(self, |el, name| el.child(name))
    }

    /// The trimmed text at `path`, when present and not empty.
    pub(crate) fn text_at(&self, path: &str) -> Option<String> {
        let t = self.at(path)?.text.trim();
        (!t.is_empty()).then(|| t.to_string())
    }

    pub(crate) fn attribute(&self, key: &str) -> Option<&str> {
        self.attributes
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// The Java class an element stands for: its `class` attribute, else its name (XStream
    /// writes `<definition class="...CpsScmFlowDefinition">` or the class as the name).
    pub(crate) fn class(&self) -> &str {
        self.attribute("class").unwrap_or(&self.name)
    }

    /// The short class name (`CpsScmFlowDefinition` of `org.jenkinsci...CpsScmFlowDefinition`).
    pub(crate) fn short_class(&self) -> &str {
        let class = self.class();
        class.rsplit(['.', '$']).next().unwrap_or(class)
    }

    /// `true`/`false` text at `path`.
    pub(crate) fn bool_at(&self, path: &str) -> Option<bool> {
        match self.text_at(path)?.as_str() {
            "true" => Some(true),
            "false" => Some(false),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_text_attributes_and_references() {
        let doc = parse(
            "<?xml version='1.1' encoding='UTF-8'?>\n<a x=\"1 &amp; 2\"><b>x &lt; y&#xd;&#10;</b><c/></a>",
        )
        .unwrap();
        assert_eq!(doc.attribute("x"), Some("1 & 2"));
        assert_eq!(doc.child("b").unwrap().text, "x < y\r\n");
        assert!(doc.child("c").is_some());
    }

    #[test]
    fn reports_where_a_broken_document_stops() {
        let err = parse("<a><b></a>").unwrap_err();
        assert!(err.offset > 0, "{err:?}");
        assert!(parse("<a>").is_err());
        assert!(
            parse("<a>&bogus;</a>")
                .unwrap_err()
                .reason
                .contains("bogus")
        );
    }
}
